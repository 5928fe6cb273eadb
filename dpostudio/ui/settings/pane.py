"""The Settings pane: API tokens in the OS keyring, the data folder, default device and precision, plugins.

Tokens (Hugging Face, Gemini, an OpenAI-compatible server) go only to the OS keyring through
``dpostudio.core.secrets``; the settings file never holds one. Where the system has no secure keyring the pane
says so and offers to keep a token for this session only, in this process's memory (as the token's environment
variable, which ``secrets.get_token`` honours); nothing is written to disk.
"""

from __future__ import annotations

import os
from html import escape

from PySide6.QtCore import QMetaMethod, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core import secrets, settings
from dpostudio.core.training.device import DEVICES, PRECISIONS
from dpostudio.core.training.run_config import RunConfig

DEVICE_KEY = "defaults.device"
PRECISION_KEY = "defaults.precision"
_HELP = {f.name: f.metadata.get("help", "") for f in RunConfig.field_specs()}
_DEVICE_NAMES = {
    "auto": "Automatic (CUDA, then Apple MPS, then CPU)",
    "cuda": "NVIDIA GPU (CUDA)",
    "mps": "Apple GPU (MPS)",
    "cpu": "CPU",
}
_PRECISION_NAMES = {
    "auto": "Automatic (fastest the hardware does well)",
    "fp32": "fp32 (full precision)",
    "bf16": "bf16 (bfloat16)",
    "fp16": "fp16 (half precision)",
}
_TOKEN_HELP = {
    "huggingface": "Needed for gated or private models and datasets, and to push adapters to the Hub. "
    "Create one at huggingface.co/settings/tokens.",
    "gemini": "Lets Gemini judge base-vs-tuned answers in the Comparison pane.",
    "openai_compatible": "For a judge served by a local OpenAI-compatible server, if that server wants a key.",
}


# keyring backend module (prefix) -> where its tokens are kept, in words
_STORES = (
    ("keyring.backends.macOS", "in the macOS Keychain"),
    ("keyring.backends.Windows", "in the Windows Credential Locker"),
    ("keyring.backends.SecretService", "in the desktop's Secret Service (e.g. GNOME Keyring or KeePassXC)"),
    ("keyring.backends.libsecret", "in the desktop's Secret Service (through libsecret)"),
    ("keyring.backends.kwallet", "in KDE Wallet"),
    ("keyrings.cryptfile", "in an encrypted file"),
    ("keyrings.alt.file", "in a file"),
    ("keyring.backends.fail", "nowhere (the keyring library found no store at all)"),
    ("keyring.backends.null", "nowhere (the keyring is switched off)"),
)


def keyring_store_words(backend=None) -> str:
    """Where the keyring backend keeps tokens, in words ("in the macOS Keychain", "in an encrypted file", ...),
    from its module; a chain of backends is described by the one it tries first."""
    if backend is None:
        import keyring

        backend = keyring.get_keyring()
    module = type(backend).__module__
    if module.startswith("keyring.backends.chainer"):
        chained = [b for b in getattr(backend, "backends", []) if getattr(b, "priority", 0) > 0]
        if chained:
            return keyring_store_words(chained[0])
    for prefix, words in _STORES:
        if module.startswith(prefix):
            if prefix == "keyrings.alt.file" and "Encrypted" in type(backend).__name__:
                return "in an encrypted file"
            return words
    name = getattr(backend, "name", "") or type(backend).__name__
    return f"in the “{name}” keyring ({module})"


def _esc(text: str) -> str:
    return escape(text, quote=False)


def default_device() -> str:
    """The user's default device preference ("auto" unless set in Settings)."""
    value = settings.get(DEVICE_KEY, "auto")
    return value if value in DEVICES else "auto"


def default_precision() -> str:
    value = settings.get(PRECISION_KEY, "auto")
    return value if value in PRECISIONS else "auto"


def keyring_problem() -> str | None:
    """None when a secure keyring backend is available, else why not (in words)."""
    return secrets.keyring_problem()


def _keyring_value(name: str) -> str | None:
    return secrets.stored_token(name)


class _TokenRow:
    """Widgets for one token: masked status, a password field, Save / Remove / session-only buttons."""

    def __init__(self, pane: SettingsPane, name: str, grid: QGridLayout, row: int):
        self.pane, self.name = pane, name
        title, env = secrets.KNOWN[name]
        self.env = env
        self.session_only = False
        label = QLabel(f"<b>{title}</b> — <span style='color:gray'>{_TOKEN_HELP.get(name, '')}</span>")
        label.setWordWrap(True)
        if row:
            label.setContentsMargins(0, 8, 0, 0)
        grid.addWidget(label, row, 0, 1, 4)
        self.edit = QLineEdit()
        self.edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.edit.setPlaceholderText("paste a new value here")
        self.edit.setClearButtonEnabled(True)
        self.edit.setToolTip(_TOKEN_HELP.get(name, ""))
        self.edit.returnPressed.connect(self.save)
        grid.addWidget(self.edit, row + 1, 0)
        self.save_button = QPushButton("Save")
        self.save_button.setToolTip("Store it in the operating system's keyring")
        self.save_button.clicked.connect(self.save)
        grid.addWidget(self.save_button, row + 1, 1)
        self.session_button = QPushButton("Use for this session")
        self.session_button.setToolTip("Keep it in memory until DPO Studio quits; nothing is written to disk")
        self.session_button.clicked.connect(self.use_for_session)
        grid.addWidget(self.session_button, row + 1, 2)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove)
        grid.addWidget(self.remove_button, row + 1, 3)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: palette(mid);")
        grid.addWidget(self.status, row + 2, 0, 1, 4)

    def refresh(self, keyring_ok: bool) -> None:
        stored = _keyring_value(self.name) if keyring_ok else None
        env_value = os.environ.get(self.env)
        if stored:
            text = f"Stored in the keyring: {secrets.mask(stored)}"
            if env_value and env_value != stored:
                text += f" (the keyring value is used; {self.env} is also set)"
        elif env_value and self.session_only:
            text = f"Kept for this session only: {secrets.mask(env_value)}"
        elif env_value:
            text = f"From the environment variable {self.env}: {secrets.mask(env_value)}"
        else:
            text = f"Not set. ({self.env} in the environment also works.)"
        self.status.setText(text)
        self.save_button.setEnabled(keyring_ok)
        self.session_button.setVisible(not keyring_ok)
        self.remove_button.setEnabled(bool(stored) or (bool(env_value) and self.session_only))

    def save(self) -> None:
        value = self.edit.text()
        try:
            secrets.set_token(self.name, value)
        except secrets.SecretError as exc:
            self.pane._report("error", str(exc))
            return
        self.edit.clear()
        self.pane._report("info", f"{secrets.KNOWN[self.name][0]} saved in the keyring ({secrets.mask(value.strip())})")
        self.pane.refresh()

    def use_for_session(self) -> None:
        value = (self.edit.text() or "").strip()
        title = secrets.KNOWN[self.name][0]
        if not value:
            self.pane._report("error", f"the {title} is empty")
            return
        if any(ch.isspace() for ch in value):
            self.pane._report("error", f"the {title} must not contain spaces or line breaks")
            return
        os.environ[self.env] = value
        self.session_only = True
        self.edit.clear()
        self.pane._report(
            "info", f"{title} kept for this session only ({secrets.mask(value)}); it is forgotten when DPO Studio quits"
        )
        self.pane.refresh()

    def remove(self) -> None:
        title = secrets.KNOWN[self.name][0]
        try:
            if _keyring_value(self.name):
                secrets.delete_token(self.name)
            if self.session_only:
                os.environ.pop(self.env, None)
                self.session_only = False
        except Exception as exc:
            self.pane._report("error", f"could not remove the {title}: {exc}")
            return
        self.pane._report("info", f"{title} removed")
        self.pane.refresh()


class SettingsPane(QWidget):
    """Tokens, data folder, default device/precision and plugin access. Signal ``message(level, text)``."""

    message = Signal(str, str)
    restartRequested = Signal()  # the Plugins dialog's "Restart now" (connect it to restart DPO Studio)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes to the fields, not the scroll area
        outer.addWidget(scroll)
        body = QWidget()
        body.setMaximumWidth(900)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(self._build_tokens())
        layout.addWidget(self._build_storage())
        layout.addWidget(self._build_defaults())
        layout.addWidget(self._build_plugins())
        layout.addStretch(1)
        holder = QWidget()
        h = QHBoxLayout(holder)
        h.addWidget(body, 1)
        h.addStretch(0)
        scroll.setWidget(holder)
        self.refresh()

    # ---- sections ---------------------------------------------------------------------------------------

    def _build_tokens(self) -> QGroupBox:
        box = QGroupBox("Tokens and API keys")
        layout = QVBoxLayout(box)
        self.keyring_label = QLabel()
        self.keyring_label.setObjectName("KeyringNotice")
        self.keyring_label.setWordWrap(True)
        self.keyring_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.keyring_label)
        grid = QGridLayout()
        grid.setColumnStretch(0, 1)
        grid.setVerticalSpacing(4)
        self.token_rows: dict[str, _TokenRow] = {}
        for i, name in enumerate(secrets.KNOWN):
            self.token_rows[name] = _TokenRow(self, name, grid, i * 3)
        layout.addLayout(grid)
        note = QLabel(
            "Tokens are never written to the settings file, logs or run folders. Environment variables "
            "(HF_TOKEN, GEMINI_API_KEY, OPENAI_API_KEY) are used when no token is stored."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid);")
        layout.addWidget(note)
        return box

    def _build_storage(self) -> QGroupBox:
        from dpostudio.core.paths import data_dir, settings_file

        box = QGroupBox("Where DPO Studio keeps its files")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.data_dir_edit = QLineEdit(str(data_dir()))
        self.data_dir_edit.setReadOnly(True)
        self.data_dir_edit.setToolTip(
            "Runs, imported models and settings live here. Set DPOSTUDIO_HOME before "
            "starting DPO Studio to use another folder."
        )
        row.addWidget(self.data_dir_edit, 1)
        open_button = QPushButton("Open folder")
        open_button.clicked.connect(self.open_data_folder)
        row.addWidget(open_button)
        holder = QWidget()
        holder.setLayout(row)
        form.addRow("Data folder", holder)
        self.settings_file_label = QLabel(str(settings_file()))
        self.settings_file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.settings_file_label.setStyleSheet("color: palette(mid);")
        form.addRow("Settings file", self.settings_file_label)
        return box

    def _build_defaults(self) -> QGroupBox:
        box = QGroupBox("Defaults for new runs")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.device_combo = QComboBox()
        for d in DEVICES:
            self.device_combo.addItem(_DEVICE_NAMES.get(d, d), d)
        self.device_combo.setToolTip(_HELP.get("device", ""))
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(default_device())))
        self.device_combo.currentIndexChanged.connect(
            lambda *_: self._store(DEVICE_KEY, self.device_combo.currentData())
        )
        form.addRow("Device", self.device_combo)
        self.precision_combo = QComboBox()
        for p in PRECISIONS:
            self.precision_combo.addItem(_PRECISION_NAMES.get(p, p), p)
        self.precision_combo.setToolTip(_HELP.get("precision", ""))
        self.precision_combo.setCurrentIndex(max(0, self.precision_combo.findData(default_precision())))
        self.precision_combo.currentIndexChanged.connect(
            lambda *_: self._store(PRECISION_KEY, self.precision_combo.currentData())
        )
        form.addRow("Precision", self.precision_combo)
        for combo in (self.device_combo, self.precision_combo):
            combo.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel scrolls the page, not the choice
        note = QLabel("A run can still override both in the Training pane. DPO Studio sends no telemetry.")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid);")
        form.addRow(note)
        return box

    def _build_plugins(self) -> QGroupBox:
        box = QGroupBox("Plugins")
        row = QHBoxLayout(box)
        self.plugins_label = QLabel("Dataset sources, model sources and judges can come from plugins.")
        self.plugins_label.setWordWrap(True)
        row.addWidget(self.plugins_label, 1)
        button = QPushButton("Manage plugins…")
        button.clicked.connect(self.open_plugins_dialog)
        row.addWidget(button)
        return box

    # ---- actions ----------------------------------------------------------------------------------------

    def refresh(self) -> None:
        problem = keyring_problem()
        try:
            store = keyring_store_words()
        except Exception:  # the keyring library itself is broken
            store = "nowhere"
        if problem:
            offered = (
                ""
                if store.startswith("nowhere")
                else f" The only store available keeps them {_esc(store)}, which DPO Studio does not use."
            )
            self.keyring_label.setText(
                "<span style='color:#b00020'><b>No secure keyring:</b> this system offers no secure place for "
                "tokens (no macOS Keychain, Windows Credential Locker or desktop Secret Service was found), so "
                f"they cannot be saved.{offered}</span><br>"
                "You can keep a token for this session only: it stays in memory and is forgotten when DPO Studio "
                "quits. Nothing is ever saved to a plain file."
            )
            self.keyring_label.setToolTip(problem)
        else:
            self.keyring_label.setText(
                f"Saved tokens are kept {_esc(store)}, under the service name “{secrets.SERVICE}”."
            )
            self.keyring_label.setToolTip("")
        for row in self.token_rows.values():
            row.refresh(problem is None)

    def open_data_folder(self) -> None:
        path = self.data_dir_edit.text()
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(path)):
            self._report("warning", f"Could not open a file browser; the data folder is {path}")

    def open_plugins_dialog(self) -> None:
        from dpostudio.ui.plugins.dialog import PluginsDialog

        dialog = PluginsDialog(self)
        dialog.message.connect(self.message)
        if self.isSignalConnected(QMetaMethod.fromSignal(self.restartRequested)):  # "Restart now" after an install
            dialog.restartRequested.connect(self.restartRequested)
        dialog.exec()

    def _store(self, key: str, value) -> None:
        try:
            settings.set(key, value)
        except settings.SettingsError as exc:
            self._report("error", str(exc))
            return
        self._report("info", f"Default {key.split('.')[-1]} set to {value}")

    def _report(self, level: str, text: str) -> None:
        self.message.emit(level, text)
