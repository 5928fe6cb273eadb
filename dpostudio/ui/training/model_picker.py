"""The base-model picker of the Training pane: embedded default, imported models, Hub id, folder or GGUF file.

``ModelPickerMixin`` holds the model half of ``TrainingPane``; a GGUF file is converted into the model store in a
background task, with progress.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.training.run_config import DEFAULT_MODEL
from dpostudio.ui.file_dialogs import choose_folder, open_file
from dpostudio.ui.tasks import Task, run_task

if TYPE_CHECKING:
    _MixinBase = QWidget  # only ever mixed into a QWidget (``TrainingPane``)
else:
    _MixinBase = object

MODEL_EMBEDDED, MODEL_HUB, MODEL_FOLDER, MODEL_GGUF, MODEL_STORE = "embedded", "hub", "folder", "gguf", "store"
MODEL_PLUGIN = "plugin"
BUILTIN_MODEL_SOURCES = ("embedded", "hub", "folder", "gguf")  # already offered by the entries above


def plugin_model_choices() -> list[tuple[str, str]]:
    """(label, model spec) for models that community model-source plugins offer right now."""
    from dpostudio.plugins.manager import get_manager

    return [
        (entry.display_name, entry.spec)
        for entry in get_manager().list_models()
        if entry.source not in BUILTIN_MODEL_SOURCES
    ]


def _models_on_offer() -> tuple[list[dict], list[tuple[str, str]]]:
    from dpostudio.core.model_store import list_store

    try:
        plugins = plugin_model_choices()
    except Exception:  # a broken plugin never hides the store's models
        plugins = []
    return list_store(), plugins


class ModelPickerMixin(_MixinBase):
    """The "Base model" box of ``TrainingPane`` and the model spec it stands for."""

    import_task: Task | None
    _store_models: list[dict]

    if TYPE_CHECKING:  # provided by TrainingPane
        message = Signal(str, str)
        modelChanged = Signal(str)
        _estimate_timer: QTimer

    def _build_model_box(self) -> None:
        self.model_box = QGroupBox("Base model", self)
        self.model_source = QComboBox(self.model_box)
        self.model_source.setObjectName("model_source")
        self.model_source.setToolTip("Where the base model comes from. The embedded default works offline.")
        self.model_text = QLineEdit(self.model_box)
        self.model_text.setObjectName("model_text")
        self.model_browse = QPushButton("Browse…", self.model_box)
        self.model_import = QPushButton("Import GGUF", self.model_box)
        self.model_import.setToolTip("Convert the GGUF file into the model store now (once), with progress.")
        self.import_progress = QProgressBar(self.model_box)
        self.import_progress.setRange(0, 1000)
        self.import_progress.setTextVisible(True)
        self.import_progress.hide()
        self.model_hint = QLabel(self.model_box)
        self.model_hint.setWordWrap(True)
        self.model_hint.setObjectName("model_hint")
        row = QHBoxLayout()
        row.addWidget(self.model_text, 1)
        row.addWidget(self.model_browse)
        layout = QVBoxLayout(self.model_box)
        layout.addWidget(self.model_source)
        layout.addLayout(row)
        layout.addWidget(self.model_import)
        layout.addWidget(self.import_progress)
        layout.addWidget(self.model_hint)
        self._fill_model_sources()
        self.model_source.currentIndexChanged.connect(self._on_model_source)
        self.model_text.textChanged.connect(lambda *_: self._on_model_changed())
        self.model_browse.clicked.connect(self._browse_model)
        self.model_import.clicked.connect(lambda: self.import_gguf(self.model_text.text()))
        self._on_model_source()

    def _fill_model_sources(self) -> None:
        current = self.model_spec() if self.model_source.count() else DEFAULT_MODEL
        self.model_source.blockSignals(True)
        self.model_source.clear()
        self.model_source.addItem("Embedded default: SmolLM2-135M-Instruct", (MODEL_EMBEDDED, DEFAULT_MODEL))
        for entry in self._store_models:
            name = entry.get("name") or entry["path"]
            if name == "SmolLM2-135M-Instruct":
                continue
            self.model_source.addItem(f"Imported: {name}", (MODEL_STORE, entry["path"]))
        for label, spec in getattr(self, "_plugin_models", []):
            self.model_source.addItem(f"Plugin: {label}", (MODEL_PLUGIN, spec))
        self.model_source.addItem("Hugging Face Hub id…", (MODEL_HUB, ""))
        self.model_source.addItem("Local model folder…", (MODEL_FOLDER, ""))
        self.model_source.addItem("GGUF file…", (MODEL_GGUF, ""))
        self.model_source.blockSignals(False)
        self.set_model_spec(current)

    @Slot()
    def refresh_model_list(self) -> None:
        def done(found):
            store, plugins = found
            self._store_models = list(store or [])
            self._plugin_models = list(plugins or [])
            self._fill_model_sources()
            self._estimate_timer.start()  # a model imported meanwhile now has its config here

        run_task(
            self,
            _models_on_offer,
            on_result=done,
            on_error=lambda text, _tb: self.message.emit("warning", f"could not list imported models: {text}"),
        )

    def _source_kind(self) -> str:
        data = self.model_source.currentData()
        return data[0] if data else MODEL_EMBEDDED

    def _on_model_source(self) -> None:
        kind = self._source_kind()
        editable = kind in (MODEL_HUB, MODEL_FOLDER, MODEL_GGUF)
        self.model_text.setVisible(editable)
        self.model_browse.setVisible(kind in (MODEL_FOLDER, MODEL_GGUF))
        self.model_import.setVisible(kind == MODEL_GGUF)
        self.model_text.setPlaceholderText(
            {
                MODEL_HUB: "owner/name, e.g. HuggingFaceTB/SmolLM2-360M-Instruct",
                MODEL_FOLDER: "folder with config.json and safetensors",
                MODEL_GGUF: "path to a .gguf file",
            }.get(kind, "")
        )
        self.model_hint.setText(
            {
                MODEL_EMBEDDED: "Ships with DPO Studio (135 M parameters) and works offline: "
                "good for a first run on a CPU.",
                MODEL_STORE: "A model imported earlier from a GGUF file.",
                MODEL_PLUGIN: "Offered by a model-source plugin (see Tools → Plugins).",
                MODEL_HUB: "Downloaded from the Hugging Face Hub on first use "
                "(a token from Settings is used for gated models).",
                MODEL_FOLDER: "A transformers model folder on this computer.",
                MODEL_GGUF: "Converted once into the model store (LM Studio, Ollama and llama.cpp files).",
            }[kind]
        )
        self._on_model_changed()

    def _on_model_changed(self) -> None:
        self._estimate_timer.start()
        edited = getattr(self, "_on_form_edited", None)  # not while the pane is being built
        if edited is not None and hasattr(self, "editors"):
            edited()
        if hasattr(self, "editors"):
            self.modelChanged.emit(self.model_spec())

    def model_spec(self) -> str:
        data = self.model_source.currentData()
        if not data:
            return DEFAULT_MODEL
        kind, spec = data
        if kind in (MODEL_HUB, MODEL_FOLDER, MODEL_GGUF):
            return self.model_text.text().strip()
        return spec

    def set_model_spec(self, spec: str) -> None:
        spec = (spec or DEFAULT_MODEL).strip()
        for i in range(self.model_source.count()):
            kind, value = self.model_source.itemData(i)
            if value and value == spec:
                self.model_source.setCurrentIndex(i)
                self._on_model_source()
                return
        if spec.lower().endswith(".gguf"):
            kind = MODEL_GGUF
        elif spec.startswith(("/", "~", ".")) or "\\" in spec:
            kind = MODEL_FOLDER
        else:
            kind = MODEL_HUB
        for i in range(self.model_source.count()):
            if self.model_source.itemData(i)[0] == kind:
                self.model_source.setCurrentIndex(i)
                break
        self.model_text.setText(spec)
        self._on_model_source()

    def _browse_model(self) -> None:
        if self._source_kind() == MODEL_GGUF:
            path = open_file(self, "Choose a GGUF model file", "models", "GGUF models (*.gguf)")
        else:
            path = choose_folder(self, "Choose a model folder", "models")
        if path:
            self.model_text.setText(path)

    def import_gguf(self, path: str) -> None:
        """Convert a GGUF file into the model store in a background task, with progress; then select it."""
        path = (path or "").strip()
        if not path:
            self.message.emit("warning", "choose a .gguf file to import")
            return
        if self.import_task is not None and self.import_task.is_running():
            self.message.emit("warning", "a model import is already running")
            return
        from dpostudio.core.model_store import import_gguf

        def work(p, progress):
            return str(import_gguf(p, on_progress=progress))

        def on_progress(fraction, text):
            self.import_progress.setValue(int(fraction * 1000))
            self.import_progress.setFormat(f"{text} · {fraction:.0%}" if text else f"{fraction:.0%}")

        def done(folder):
            self.import_progress.hide()
            self.model_import.setEnabled(True)
            self.message.emit("info", f"imported {path} into the model store: {folder}")
            self._store_models.insert(0, {"name": folder.rstrip("/").split("/")[-1], "path": folder})
            self._fill_model_sources()
            self.set_model_spec(folder)

        def failed(text, _tb):
            self.import_progress.hide()
            self.model_import.setEnabled(True)
            self.message.emit("error", f"could not import the GGUF model: {text}")

        self.model_import.setEnabled(False)
        self.import_progress.setValue(0)
        self.import_progress.setFormat("starting…")
        self.import_progress.show()
        self.import_task = run_task(
            self, work, path, with_progress=True, on_result=done, on_error=failed, on_progress=on_progress
        )
