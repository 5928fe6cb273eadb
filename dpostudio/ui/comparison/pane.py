"""Comparison pane: base vs tuned answers side by side, judged by a judge plugin, with a win table.

The left column picks the run (and checkpoint), the prompt set (editable), generation settings and the judge with
its options (drawn from the plugin's ``JudgeInfo.options``). Compare runs ``dpostudio.core.compare.comparison.compare``
in a child process (``CompareWorker``, on a ``QThread`` that relays its events): loading the model and generating
never hold this process's interpreter lock. Its plain-dict events come back by queued signal, so answers stream
token by token into two columns per prompt and no widget is touched from the worker. Stop sets the comparison's
cancel event in the child. The Results tab shows one row per prompt (answers, scores per criterion, verdict,
reasoning) under the summary line ("tuned better in 4/5"); past comparisons of the run reopen from disk, and
export to CSV.

The pieces live in ``worker`` (the worker), ``widgets`` (the answer box), ``results`` (results table, summary,
export), ``runs`` (run, checkpoint, past comparisons), ``judges`` (judge options) and ``prompts`` (prompt
sources); the last four are mixed into ``ComparisonPane``. ``human_judgements`` adds, under each answer pair,
the person's own verdict (base better, tuned better, tie, or a better answer written), saved as preference pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from dpostudio.core.training.event_types import CANCELLED, END_STATES, FAILED, FINISHED
from dpostudio.ui.comparison.human_judgements import HumanJudgementMixin
from dpostudio.ui.comparison.judges import JudgeOptionsMixin, OptionWidget
from dpostudio.ui.comparison.prompts import PROMPT_SOURCES, PromptSourceMixin
from dpostudio.ui.comparison.results import ComparisonResultsMixin
from dpostudio.ui.comparison.runs import RunPickerMixin
from dpostudio.ui.comparison.widgets import (
    SIDES,
    VERDICT_COLOUR,
    VERDICT_TEXT,
    AnswerBox,
    _html,
    no_wheel_without_focus,
)
from dpostudio.ui.comparison.worker import CompareWorker
from dpostudio.ui.tasks import describe_error, keep_until_finished

if TYPE_CHECKING:
    from dpostudio.core.compare.prompt_sets import Prompt

__all__ = [
    "PROMPT_SOURCES",
    "SIDES",
    "VERDICT_COLOUR",
    "VERDICT_TEXT",
    "AnswerBox",
    "CompareWorker",
    "ComparisonPane",
]


class ComparisonPane(
    HumanJudgementMixin, ComparisonResultsMixin, RunPickerMixin, JudgeOptionsMixin, PromptSourceMixin, QWidget
):
    """Base vs tuned side by side, judged; see the module docstring."""

    message = Signal(str, str)  # level ("info" | "warning" | "error"), text
    comparisonFinished = Signal(object)  # the ComparisonResult (or None when it could not start)
    datasetRequested = Signal(str)  # "Open in Dataset pane": the pairs file made from the person's judgements

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: CompareWorker | None = None
        self._boxes: dict[int, AnswerBox] = {}
        self._items: dict[int, dict] = {}
        self._criteria: list[str] = ["coherence", "relevance", "depth"]
        self._current_dir: str | None = None
        self._judges: dict[str, Any] = {}
        self._option_widgets: dict[str, tuple[str, OptionWidget]] = {}
        self._file_prompts: list[Prompt] | None = None
        self._columns: list[str] = []
        self._summary_is_idle = True  # the summary line shows the run-list hint, not a comparison
        self._build()
        no_wheel_without_focus(self)
        self.refresh_runs()
        self.refresh_judges()
        self._load_prompt_source()
        self.show_latest_comparison()

    # --- layout ---------------------------------------------------------------------------------------
    def _build(self) -> None:
        left = QWidget(self)
        form_col = QVBoxLayout(left)
        form_col.setContentsMargins(0, 0, 4, 0)

        run_box = QGroupBox("Run", left)
        f = QFormLayout(run_box)
        self.run_combo = QComboBox(run_box)
        self.run_combo.setObjectName("CompareRun")
        self.run_combo.currentIndexChanged.connect(self._on_run_changed)
        refresh = QPushButton("Refresh", run_box)
        refresh.clicked.connect(self.refresh_runs)
        row = QHBoxLayout()
        row.addWidget(self.run_combo, 1)
        row.addWidget(refresh)
        f.addRow("Run", row)
        self.checkpoint_combo = QComboBox(run_box)
        self.checkpoint_combo.setObjectName("CompareCheckpoint")
        f.addRow("Adapter", self.checkpoint_combo)
        form_col.addWidget(run_box)

        prompt_box = QGroupBox("Prompts", left)
        v = QVBoxLayout(prompt_box)
        self.prompt_source = QComboBox(prompt_box)
        for key, label in PROMPT_SOURCES:
            self.prompt_source.addItem(label, key)
        self.prompt_source.currentIndexChanged.connect(self._load_prompt_source)
        self.prompt_edit = QPlainTextEdit(prompt_box)
        self.prompt_edit.setObjectName("ComparePrompts")
        self.prompt_edit.setPlaceholderText("One prompt per line")
        self.prompt_edit.setMinimumHeight(120)
        self.prompt_edit.textChanged.connect(self._on_prompts_edited)
        self.prompt_count = QLabel("", prompt_box)
        self.prompt_count.setStyleSheet("color: #666;")
        v.addWidget(self.prompt_source)
        v.addWidget(self.prompt_edit, 1)
        v.addWidget(self.prompt_count)
        form_col.addWidget(prompt_box, 1)

        gen_box = QGroupBox("Generation", left)
        g = QFormLayout(gen_box)
        self.max_new_tokens = QSpinBox(gen_box)
        self.max_new_tokens.setRange(1, 8192)
        self.max_new_tokens.setValue(256)
        self.temperature = QDoubleSpinBox(gen_box)
        self.temperature.setRange(0.0, 5.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setSpecialValueText("0 (greedy)")
        self.top_p = QDoubleSpinBox(gen_box)
        self.top_p.setRange(0.01, 1.0)
        self.top_p.setSingleStep(0.05)
        self.top_p.setValue(1.0)
        self.seed = QSpinBox(gen_box)
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setValue(42)
        g.addRow("Max new tokens", self.max_new_tokens)
        g.addRow("Temperature", self.temperature)
        g.addRow("Top p", self.top_p)
        g.addRow("Seed", self.seed)
        form_col.addWidget(gen_box)

        judge_box = QGroupBox("Judge", left)
        j = QVBoxLayout(judge_box)
        self.judge_combo = QComboBox(judge_box)
        self.judge_combo.setObjectName("CompareJudge")
        self.judge_combo.currentIndexChanged.connect(self._on_judge_changed)
        self.judge_help = QLabel("", judge_box)
        self.judge_help.setWordWrap(True)
        self.judge_help.setStyleSheet("color: #666;")
        self.judge_form_host = QWidget(judge_box)
        self.judge_form = QFormLayout(self.judge_form_host)
        self.judge_form.setContentsMargins(0, 0, 0, 0)
        note = QLabel("Each pair is judged twice with the answers swapped; disagreement counts as a tie.", judge_box)
        note.setWordWrap(True)
        note.setStyleSheet("color: #666;")
        j.addWidget(self.judge_combo)
        j.addWidget(self.judge_help)
        j.addWidget(self.judge_form_host)
        j.addWidget(note)
        form_col.addWidget(judge_box)

        buttons = QHBoxLayout()
        self.compare_button = QPushButton("Compare", self)
        self.compare_button.setObjectName("CompareButton")
        self.compare_button.setDefault(True)
        self.compare_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        buttons.addWidget(self.compare_button, 1)
        buttons.addWidget(self.stop_button)

        scroll_left = QScrollArea(self)
        scroll_left.setWidgetResizable(True)
        scroll_left.setFrameShape(QFrame.Shape.NoFrame)
        scroll_left.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes to the fields, not the scroll area
        scroll_left.setWidget(left)
        left_host = QWidget(self)
        left_col = QVBoxLayout(left_host)
        left_col.setContentsMargins(0, 0, 0, 0)
        left_col.addWidget(scroll_left, 1)
        left_col.addLayout(buttons)  # Compare / Stop stay visible however long the form is
        left_host.setMinimumWidth(360)

        right = QWidget(self)
        rv = QVBoxLayout(right)
        rv.setContentsMargins(4, 0, 0, 0)
        past = QHBoxLayout()
        past.addWidget(QLabel("Past comparisons:", right))
        self.past_combo = QComboBox(right)
        self.past_combo.setObjectName("ComparePast")
        past.addWidget(self.past_combo, 1)
        self.open_button = QPushButton("Open", right)
        self.open_button.clicked.connect(self._open_selected_past)
        self.export_button = QPushButton("Export CSV…", right)
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._export_dialog)
        past.addWidget(self.open_button)
        past.addWidget(self.export_button)
        rv.addLayout(past)

        self.summary_label = QLabel("", right)
        self.summary_label.setObjectName("CompareSummary")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.summary_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.summary_label.setFont(font)
        rv.addWidget(self.summary_label)
        status = QHBoxLayout()
        self.progress = QProgressBar(right)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.status_label = QLabel("", right)
        self.status_label.setStyleSheet("color: #555;")
        status.addWidget(self.progress, 1)
        status.addWidget(self.status_label, 2)
        rv.addLayout(status)
        rv.addWidget(self._build_judgement_row(right))

        self.tabs = QTabWidget(right)
        answers_host = QWidget()
        self.answers_layout = QVBoxLayout(answers_host)
        self.answers_layout.addStretch(1)
        self.answers_scroll = QScrollArea()
        self.answers_scroll.setWidgetResizable(True)
        self.answers_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.answers_scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.answers_scroll.setWidget(answers_host)
        self.tabs.addTab(self.answers_scroll, "Answers side by side")
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("CompareTable")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)  # one line per prompt; the full texts are in tooltips and below
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.currentCellChanged.connect(self._on_table_row)
        self.reason_view = QPlainTextEdit()
        self.reason_view.setObjectName("CompareReasoning")
        self.reason_view.setReadOnly(True)
        self.reason_view.setPlaceholderText("Click a row to read the judge's full reasoning.")
        results = QSplitter(Qt.Orientation.Vertical)
        results.addWidget(self.table)
        results.addWidget(self.reason_view)
        results.setStretchFactor(0, 1)
        results.setSizes([420, 140])
        self.tabs.addTab(results, "Results table")
        rv.addWidget(self.tabs, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(left_host)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([380, 900])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # --- running -----------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    @Slot()
    def start(self) -> None:
        from dpostudio.core.compare.comparison import GenerationSettings

        if self.is_running():
            return
        run = self._run()
        if run is None:
            self.message.emit("warning", "Pick a run with an adapter first.")
            return
        try:
            prompts = self.prompts()
        except Exception as exc:
            self.message.emit("warning", describe_error(exc))
            return
        settings = GenerationSettings(
            max_new_tokens=self.max_new_tokens.value(),
            temperature=round(self.temperature.value(), 3),
            top_p=round(self.top_p.value(), 3),
            seed=self.seed.value(),
        )
        kwargs = {
            "run_id": run,
            "prompts": prompts,
            "settings": settings,
            "judge_id": self.judge_combo.currentData(),
            "judge_options": self.judge_options(),
            "checkpoint": self.checkpoint_combo.currentData(),
        }
        self._reset_results([p.text for p in prompts])
        self._set_summary("Comparing…")
        self.progress.setRange(0, len(prompts))
        self.progress.setValue(0)
        self._worker = CompareWorker(kwargs)
        self._thread = QThread()  # held by tasks.keep_until_finished until it has ended, whatever happens to the pane
        self._thread.setObjectName("comparison")
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.event.connect(self._on_event)
        self._worker.failed.connect(self._on_failed)
        self._worker.done.connect(self._on_done)
        self._worker.done.connect(self._thread.quit)
        keep_until_finished(self._thread, self._worker)
        self._set_running(True)
        self._thread.start()

    @Slot()
    def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel.set()
            self.status_label.setText("stopping after the current token…")

    def wait(self, msecs: int = 60_000) -> bool:
        return self._thread.wait(msecs) if self._thread is not None else True

    def _set_running(self, running: bool) -> None:
        self.compare_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        for w in (self.run_combo, self.checkpoint_combo, self.judge_combo, self.prompt_source):
            w.setEnabled(not running)
        self.open_button.setEnabled(not running and self.past_combo.count() > 0)

    @Slot(object)
    def _on_event(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "token":
            box = self._boxes.get(event["prompt_index"])
            if box is not None:
                box.append(event["side"], event["text"])
        elif kind == "started":
            self._current_dir = event["dir"]
            self._criteria = list(event.get("criteria") or self._criteria)
            self.status_label.setText(f"saving in {Path(event['dir']).name}")
        elif kind == "stage":
            self.status_label.setText(event["message"])
        elif kind == "prompt":
            self.status_label.setText(f"prompt {event['prompt_index'] + 1}/{event['total']}: answering")
            box = self._boxes.get(event["prompt_index"])
            if box is not None:
                self.answers_scroll.ensureWidgetVisible(box)
        elif kind == "answer":
            box = self._boxes.get(event["prompt_index"])
            if box is not None:
                box.set_answer(event["side"], event)
        elif kind == "judging":
            self.status_label.setText(
                f"prompt {event['prompt_index'] + 1}: judging ({event['order'].replace('_', ' ')})"
            )
        elif kind == "judge_error":
            self.message.emit("warning", f"Judge error on prompt {event['prompt_index'] + 1}: {event['message']}")
        elif kind == "item":
            self._show_item(event["item"])
            self.progress.setValue(len(self._items))
        elif kind in END_STATES:
            self._show_summary(event.get("summary") or {}, None)
            level = {FINISHED: "info", CANCELLED: "warning", FAILED: "error"}[kind]
            self.message.emit(level, f"Comparison {kind}: {event['message']}")
            self.status_label.setText(kind)

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        self._set_summary(f"<span style='color:#b03a2e'>{_html(text)}</span>")
        self.message.emit("error", text)

    @Slot(object)
    def _on_done(self, result) -> None:
        self._set_running(False)
        self._worker = None
        self.export_button.setEnabled(self._current_dir is not None)
        self.refresh_past()
        self.comparisonFinished.emit(result)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.stop()
        self.wait(10_000)
        super().closeEvent(event)
