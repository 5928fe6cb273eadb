"""Two form parts the Generate and Loop tabs share: where the prompts come from (``PromptPicker``: a built-in set,
a prompt file, or a column of a dataset, with first-N and sampling) and how answers are ranked (``RankerPicker``:
the model itself with the Self-Rewarding rubric, a judge plugin, or a ranker plugin such as the reward model).

Both turn what is on screen into the core's settings (``PromptSource``, ``RankSettings``) and raise ``FormError``
in words, naming the field, when something is wrong; nothing typed is cleared.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QWidget,
)

from dpostudio.core.errors import UserError
from dpostudio.core.loop import PromptSource, RankSettings, builtin_prompt_sets
from dpostudio.core.loop.rank import JUDGE_MODES
from dpostudio.ui.file_dialogs import open_file
from dpostudio.ui.tasks import describe_error

SET, FILE, DATASET = "set", "file", "dataset"
SELF, JUDGE, RANKER = "self", "judge", "ranker"


class FormError(UserError, ValueError):
    """Something in a form is missing or wrong; the message names the field."""


def parse_options(text: str, where: str) -> dict:
    """``key=value, key=value`` (or ``;``-separated) as a dict; ``FormError`` naming ``where`` otherwise."""
    found: dict = {}
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise FormError(f"{where}: write options as key=value, separated by commas (not {part!r})")
        found[key.strip()] = value.strip()
    return found


def side_by_side(form: QWidget, right: QWidget, form_width: int = 440) -> QSplitter:
    """A form on the left (scrolling up and down, never sideways) and a view on the right, as the Sweeps pane."""
    scroll = QScrollArea()
    scroll.setWidget(form)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setMinimumWidth(form.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)
    splitter = QSplitter(Qt.Orientation.Horizontal)
    splitter.addWidget(scroll)
    splitter.addWidget(right)
    splitter.setStretchFactor(1, 1)
    splitter.setSizes([form_width, 1280 - form_width])
    return splitter


def _spin(low: int, high: int, value: int, special: str | None = None) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    if special:
        spin.setSpecialValueText(special)
    return spin


class PromptPicker(QWidget):
    """Prompt source: built-in set / prompt file / dataset column, first N and a random sample."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind_combo = QComboBox()
        self.kind_combo.addItem("Built-in prompt set", SET)
        self.kind_combo.addItem("Prompt file (.txt / .jsonl)", FILE)
        self.kind_combo.addItem("Dataset column", DATASET)
        self.set_combo = QComboBox()
        for name in builtin_prompt_sets():
            self.set_combo.addItem(name, name)
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("a file, a folder, or a Hugging Face dataset id")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse)
        self.path_row = path_row = QWidget()
        path_layout = QHBoxLayout(path_row)
        path_layout.setContentsMargins(0, 0, 0, 0)
        path_layout.addWidget(self.path_edit, 1)
        path_layout.addWidget(self.browse_button)
        self.column_edit = QLineEdit()
        self.column_edit.setPlaceholderText("prompt")
        self.first_n_spin = _spin(0, 1_000_000, 0, "all")
        self.sample_spin = _spin(0, 1_000_000, 0, "no sampling")
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow("Prompts from", self.kind_combo)
        layout.addRow("Set", self.set_combo)
        layout.addRow("Source", path_row)
        layout.addRow("Column", self.column_edit)
        layout.addRow("First N", self.first_n_spin)
        layout.addRow("Sample N", self.sample_spin)
        self._layout = layout
        self.kind_combo.currentIndexChanged.connect(self._kind_changed)
        self._kind_changed()

    def _kind_changed(self, *_args) -> None:
        kind = self.kind_combo.currentData()
        self._layout.setRowVisible(self.set_combo, kind == SET)
        self._layout.setRowVisible(self.column_edit, kind == DATASET)
        self._layout.setRowVisible(self.path_row, kind != SET)

    def _browse(self) -> None:
        path = open_file(self, "Prompts", "prompts", "Prompts or data (*.txt *.jsonl *.json *.csv *.parquet);;All (*)")
        if path:
            self.path_edit.setText(path)

    def source(self) -> PromptSource:
        kind = self.kind_combo.currentData()
        first_n = self.first_n_spin.value() or None
        sample = self.sample_spin.value() or None
        if kind == SET:
            name = self.set_combo.currentData()
            if not name:
                raise FormError("Prompts: no built-in prompt set is installed; pick a prompt file or a dataset")
            return PromptSource(f"set:{name}", first_n=first_n, sample=sample)
        path = self.path_edit.text().strip()
        if not path:
            what = "a prompt file" if kind == FILE else "a dataset (file, folder or Hub id)"
            raise FormError(f"Prompts: the Source box is empty; give {what}")
        if kind == FILE and not path.lower().endswith((".txt", ".jsonl", ".json")):
            raise FormError(f"Prompts: a prompt file ends in .txt, .jsonl or .json, not {path!r}")
        column = self.column_edit.text().strip() or "prompt" if kind == DATASET else None
        return PromptSource(path, column=column, first_n=first_n, sample=sample)


class RankerPicker(QWidget):
    """How the K answers are ranked: the model itself, a judge plugin (with a mode), or a ranker plugin."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.ranker_combo = QComboBox()
        self.mode_combo = QComboBox()
        for mode in JUDGE_MODES:
            self.mode_combo.addItem(mode, mode)
        self.options_edit = QLineEdit()
        self.options_edit.setPlaceholderText("key=value, … (e.g. model=/path/to/reward-model)")
        self.samples_spin = _spin(1, 16, 1)
        self.samples_spin.setToolTip("How many times the model scores each answer (the paper uses 3)")
        self.retries_spin = _spin(0, 20, 1)
        self.retries_spin.setToolTip("Extra tries of a failed judge call before the prompt is left out")
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow("Ranker", self.ranker_combo)
        layout.addRow("Judge mode", self.mode_combo)
        layout.addRow("Options", self.options_edit)
        layout.addRow("Self-judgements", self.samples_spin)
        layout.addRow("Retries", self.retries_spin)
        self._layout = layout
        self.ranker_combo.currentIndexChanged.connect(self._kind_changed)
        self.warnings: list[str] = []
        self.refresh()

    def refresh(self) -> None:
        """List the judges and rankers the plugins offer (a failure is kept in ``warnings``, in words)."""
        current = self.ranker_combo.currentData()
        self.ranker_combo.blockSignals(True)
        self.ranker_combo.clear()
        self.ranker_combo.addItem("The model itself (Self-Rewarding 5-point rubric)", (SELF, None))
        try:
            from dpostudio.plugins.manager import get_manager

            manager = get_manager()
            for judge in manager.judges():
                self.ranker_combo.addItem(f"Judge: {judge.title}", (JUDGE, judge.id))
            for ranker in manager.rankers():
                self.ranker_combo.addItem(f"Ranker: {ranker.title}", (RANKER, ranker.id))
        except Exception as exc:
            self.warnings.append(f"Judges and rankers could not be listed: {describe_error(exc)}")
        i = self.ranker_combo.findData(current) if current else -1
        self.ranker_combo.setCurrentIndex(max(i, 0))
        self.ranker_combo.blockSignals(False)
        self._kind_changed()

    def _kind_changed(self, *_args) -> None:
        kind = (self.ranker_combo.currentData() or (SELF, None))[0]
        self._layout.setRowVisible(self.mode_combo, kind == JUDGE)
        self._layout.setRowVisible(self.options_edit, kind != SELF)
        self._layout.setRowVisible(self.samples_spin, kind == SELF)
        self._layout.setRowVisible(self.retries_spin, kind == JUDGE)

    def select(self, kind: str, ident: str | None = None) -> bool:
        i = self.ranker_combo.findData((kind, ident))
        if i >= 0:
            self.ranker_combo.setCurrentIndex(i)
        return i >= 0

    def settings(self, seed: int = 0) -> RankSettings:
        kind, ident = self.ranker_combo.currentData() or (SELF, None)
        options = parse_options(self.options_edit.text(), "Ranker options") if kind != SELF else {}
        settings = RankSettings(
            kind=kind,
            id=ident,
            mode=self.mode_combo.currentData() if kind == JUDGE else "all-pairs",
            options=options,
            retries=self.retries_spin.value(),
            samples=self.samples_spin.value(),
            seed=seed,
        )
        try:
            settings.validate()
        except UserError as exc:
            raise FormError(f"Ranker: {exc}") from None
        return settings
