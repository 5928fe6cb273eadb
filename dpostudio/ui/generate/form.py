"""The Generate tab's form: prompts, system prompt, the model that answers (the base model or a run's adapter or
checkpoint), sampling (K, temperature, top-p, max new tokens, seed), the ranker, pair building and the output
folder. ``build()`` turns it into the core's ``GenerateJob`` and a folder, or raises ``FormError`` in words naming
the field; the field is shown in red and nothing typed is lost. Loading prompts and resolving the model happen
later, off the GUI thread (``create_job``)."""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.errors import UserError
from dpostudio.core.loop import GenerateJob, Generator, PairSettings, Sampling
from dpostudio.core.loop.pairs import PAIR_MODES
from dpostudio.core.training.run_config import DEFAULT_MODEL, PROMPT_TEMPLATES
from dpostudio.ui.generate.pickers import FormError, PromptPicker, RankerPicker
from dpostudio.ui.run_choices import fill_adapters, fill_runs_with_adapter

FINAL = "final"
FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_. -]{0,79}$")
ERROR_STYLE = "color: #b3261e;"


def generated_dir() -> Path:
    """Where the Generate tab puts new dataset folders by default: ``<data dir>/generated``."""
    from dpostudio.core.paths import data_dir

    return data_dir() / "generated"


def output_folder(text: str) -> Path:
    """A folder name (under ``generated_dir()``) or a full path; ``FormError`` in words."""
    text = text.strip()
    if not text:
        raise FormError("Output folder: give the new dataset folder a name")
    path = Path(text).expanduser()
    if not path.is_absolute():
        if not FOLDER_NAME.match(text):
            raise FormError(
                f"Output folder: {text!r} is not a usable name (letters, digits, spaces, '.', '_' or '-'; "
                "or a full path)"
            )
        path = generated_dir() / text
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise FormError(f"Output folder: {path} already exists and is not empty; pick a new name (or Resume it)")
    return path


def _double(low: float, high: float, value: float, step: float, decimals: int = 2) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(decimals)
    spin.setSingleStep(step)
    spin.setValue(value)
    return spin


def _spin(low: int, high: int, value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    return spin


class GenerateForm(QWidget):
    """Every setting of a generation job (see the module's doc)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.warnings: list[str] = []
        self.prompts = PromptPicker()
        self.system_edit = QLineEdit()
        self.system_edit.setPlaceholderText("optional: a system message before every prompt")
        prompts_box = QGroupBox("Prompts")
        prompts_layout = QVBoxLayout(prompts_box)
        prompts_layout.addWidget(self.prompts)
        system_form = QFormLayout()
        system_form.setContentsMargins(0, 0, 0, 0)
        system_form.addRow("System prompt", self.system_edit)
        prompts_layout.addLayout(system_form)

        self.model_combo = QComboBox()
        self.checkpoint_combo = QComboBox()
        self.base_edit = QLineEdit(DEFAULT_MODEL)
        self.base_edit.setToolTip("The base model: embedded:…, a local folder, or a Hugging Face id")
        self.template_combo = QComboBox()
        for template in PROMPT_TEMPLATES:
            self.template_combo.addItem(template, template)
        model_box = QGroupBox("Model that answers")
        model_form = QFormLayout(model_box)
        model_form.addRow("Generator", self.model_combo)
        model_form.addRow("Adapter", self.checkpoint_combo)
        model_form.addRow("Base model", self.base_edit)
        model_form.addRow("Template", self.template_combo)
        self._model_form = model_form
        self.model_combo.currentIndexChanged.connect(self._model_changed)

        self.k_spin = _spin(2, 64, 5)
        self.k_spin.setToolTip("Answers per prompt (K)")
        self.temperature_spin = _double(0.0, 5.0, 0.7, 0.1)
        self.top_p_spin = _double(0.01, 1.0, 0.9, 0.05)
        self.max_tokens_spin = _spin(1, 32768, 256)
        self.seed_spin = _spin(0, 2**31 - 1, 0)
        self.batch_spin = _spin(1, 1024, 4)
        sampling_box = QGroupBox("Sampling")
        sampling_form = QFormLayout(sampling_box)
        sampling_form.addRow("Answers per prompt (K)", self.k_spin)
        sampling_form.addRow("Temperature", self.temperature_spin)
        sampling_form.addRow("Top-p", self.top_p_spin)
        sampling_form.addRow("Max new tokens", self.max_tokens_spin)
        sampling_form.addRow("Seed", self.seed_spin)
        sampling_form.addRow("Batch size", self.batch_spin)

        self.ranker = RankerPicker()
        self.warnings += self.ranker.warnings
        self.pair_combo = QComboBox()
        self.pair_combo.addItem("Best vs worst (one pair per prompt)", PAIR_MODES[0])
        self.pair_combo.addItem("Every pair above a score gap", PAIR_MODES[1])
        self.gap_spin = _double(0.0, 100.0, 0.0, 0.05, 3)
        self.gap_spin.setToolTip("The smallest score difference that makes a pair (above 0 for the gap mode)")
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("a name (saved under the data folder's generated/) or a full path")
        rank_box = QGroupBox("Ranking and pairs")
        rank_layout = QVBoxLayout(rank_box)
        rank_layout.addWidget(self.ranker)
        pair_form = QFormLayout()
        pair_form.setContentsMargins(0, 0, 0, 0)
        pair_form.addRow("Pairs", self.pair_combo)
        pair_form.addRow("Min score gap", self.gap_spin)
        pair_form.addRow("Output folder", self.folder_edit)
        rank_layout.addLayout(pair_form)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(ERROR_STYLE)
        self.error_label.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (prompts_box, model_box, sampling_box, rank_box, self.error_label):
            layout.addWidget(widget)
        self.refresh_runs()

    # ---- the model ---------------------------------------------------------------------------------------
    def refresh_runs(self) -> None:
        """List the runs that have an adapter (keeps the current choice)."""
        current = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        fill_runs_with_adapter(self.model_combo, lambda run, info: (f"Run {run.id}", str(run.path)), self._warn)
        self.model_combo.insertItem(0, "Base model (no adapter)", None)
        i = self.model_combo.findData(current) if current else 0
        self.model_combo.setCurrentIndex(max(i, 0))
        self.model_combo.blockSignals(False)
        self._model_changed()

    def _warn(self, text: str) -> None:
        self.warnings.append(text)

    def _model_changed(self, *_args) -> None:
        folder = self.model_combo.currentData()
        run = None
        if folder:
            from dpostudio.core.training.runs import Run

            run = Run(Path(folder))
        fill_adapters(self.checkpoint_combo, run, FINAL)
        self._model_form.setRowVisible(self.checkpoint_combo, run is not None)
        self._model_form.setRowVisible(self.base_edit, run is None)
        self._model_form.setRowVisible(self.template_combo, run is None)

    def generator(self) -> Generator:
        folder = self.model_combo.currentData()
        system = self.system_edit.text().strip() or None
        if folder:
            point = self.checkpoint_combo.currentData()
            checkpoint = None if point in (None, FINAL) else str(point)
            return Generator(run=str(folder), checkpoint=checkpoint, system_prompt=system)
        model = self.base_edit.text().strip()
        if not model:
            raise FormError("Base model: give a model (embedded:…, a folder or a Hugging Face id)")
        return Generator(model=model, prompt_template=self.template_combo.currentData(), system_prompt=system)

    # ---- the whole job -----------------------------------------------------------------------------------
    def build(self) -> tuple[Path, GenerateJob]:
        """The output folder and the job; ``FormError`` in words (also shown under the form)."""
        try:
            result = self._build()
        except UserError as exc:
            self.show_error(str(exc))
            raise FormError(str(exc)) from None
        self.show_error("")
        return result

    def _build(self) -> tuple[Path, GenerateJob]:
        prompts = self.prompts.source()
        generator = self.generator()
        sampling = Sampling(
            k=self.k_spin.value(),
            temperature=round(self.temperature_spin.value(), 4),
            top_p=round(self.top_p_spin.value(), 4),
            max_new_tokens=self.max_tokens_spin.value(),
            seed=self.seed_spin.value(),
            batch_size=self.batch_spin.value(),
        )
        try:
            sampling.validate()
        except UserError as exc:
            raise FormError(f"Sampling: {exc}") from None
        pairs = PairSettings(self.pair_combo.currentData(), round(self.gap_spin.value(), 6))
        try:
            pairs.validate()
        except UserError as exc:
            raise FormError(f"Pairs: {exc}") from None
        ranker = self.ranker.settings(seed=sampling.seed)
        folder = output_folder(self.folder_edit.text())
        return folder, GenerateJob(prompts, generator, sampling, ranker, pairs)

    def show_error(self, text: str) -> None:
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))
