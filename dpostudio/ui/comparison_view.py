"""Comparison pane: base vs tuned answers side by side, judged by a judge plugin, with a win table.

The left column picks the run (and checkpoint), the prompt set (editable), generation settings and the judge with
its options (drawn from the plugin's ``JudgeInfo.options``). Compare runs ``dpostudio.core.comparison.compare`` on a
worker object moved to a ``QThread``; its plain-dict events come back by queued signal, so answers stream token by
token into two columns per prompt and no widget is touched from the worker. Stop sets the comparison's cancel
event. The Results tab shows one row per prompt (answers, scores per criterion, verdict, reasoning) under the
summary line ("tuned better in 4/5"); past comparisons of the run reopen from disk, and export to CSV.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtGui import QFont, QTextCursor
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QFrame, QGridLayout,
    QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QScrollArea,
    QSpinBox, QSplitter, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget,
)

from .tasks import describe_error

SIDES = ("base", "tuned")
PROMPT_SOURCES = (("builtin", "Built-in: five published prompts"), ("eval", "Held-out prompts of the run"),
                  ("custom", "My list (edit below)"), ("file", "From a file…"))
VERDICT_TEXT = {"tuned": "Tuned better", "base": "Base better", "tie": "Tie", "error": "Judge error", None: "—"}
VERDICT_COLOUR = {"tuned": "#1b7f3b", "base": "#b03a2e", "tie": "#7a6a00", "error": "#888888"}


class CompareWorker(QObject):
    """Runs one comparison on its thread; every core event is re-emitted as ``event(dict)`` (queued)."""

    event = Signal(object)
    failed = Signal(str)
    done = Signal(object)

    def __init__(self, kwargs: dict):
        super().__init__()
        self.kwargs = kwargs
        self.cancel = threading.Event()

    @Slot()
    def run(self) -> None:
        from dpostudio.core.comparison import compare

        result = None
        try:
            result = compare(**self.kwargs, on_event=self.event.emit, cancel=self.cancel)
        except Exception as exc:  # shown in words on the GUI thread
            self.failed.emit(describe_error(exc))
        finally:
            self.done.emit(result)


class AnswerBox(QGroupBox):
    """One prompt: the two answers side by side, and the verdict underneath."""

    def __init__(self, index: int, prompt: str, parent: QWidget | None = None):
        super().__init__(f"{index + 1}. {prompt if len(prompt) < 140 else prompt[:139] + '…'}", parent)
        self.setToolTip(prompt)
        grid = QGridLayout(self)
        self.edits: dict[str, QPlainTextEdit] = {}
        self.stats: dict[str, QLabel] = {}
        for col, side in enumerate(SIDES):
            title = QLabel(f"<b>{'Base (adapter off)' if side == 'base' else 'Tuned (adapter on)'}</b>", self)
            stats = QLabel("", self)
            stats.setStyleSheet("color: #666;")
            edit = QPlainTextEdit(self)
            edit.setReadOnly(True)
            edit.setObjectName(f"answer_{index}_{side}")
            edit.setMinimumHeight(90)
            edit.setMaximumHeight(260)
            head = QHBoxLayout()
            head.addWidget(title)
            head.addStretch(1)
            head.addWidget(stats)
            grid.addLayout(head, 0, col)
            grid.addWidget(edit, 1, col)
            self.edits[side], self.stats[side] = edit, stats
        self.verdict = QLabel("", self)
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.RichText)
        grid.addWidget(self.verdict, 2, 0, 1, 2)

    def append(self, side: str, text: str) -> None:
        edit = self.edits[side]
        edit.moveCursor(QTextCursor.End)
        edit.insertPlainText(text)
        edit.moveCursor(QTextCursor.End)

    def set_answer(self, side: str, answer: dict) -> None:
        self.edits[side].setPlainText(answer.get("answer") or answer.get("text") or "")
        self.stats[side].setText(f"{answer.get('words', 0)} words · {answer.get('tokens', 0)} tokens")

    def set_item(self, item: dict) -> None:
        for side in SIDES:
            self.set_answer(side, item[side])
        verdict = item.get("verdict")
        if not item.get("judge"):
            self.verdict.setText("<i>no judge</i>")
            return
        colour = VERDICT_COLOUR.get(verdict, "#333")
        scores = " · ".join(f"{c} {s['base']:g} / {s['tuned']:g}" for c, s in (item.get("scores") or {}).items())
        why = item.get("judge_error") or item.get("reasoning") or ""
        why = why if len(why) < 400 else why[:399] + "…"
        self.verdict.setText(f"<b style='color:{colour}'>{VERDICT_TEXT.get(verdict, verdict)}</b>"
                             + (f" &nbsp; <span style='color:#555'>(base / tuned) {scores}</span>" if scores else "")
                             + f"<br><span style='color:#444'>{_html(why)}</span>")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class ComparisonPane(QWidget):
    """Base vs tuned side by side, judged; see the module docstring."""

    message = Signal(str, str)  # level ("info" | "warning" | "error"), text
    comparisonFinished = Signal(object)  # the ComparisonResult (or None when it could not start)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: CompareWorker | None = None
        self._boxes: dict[int, AnswerBox] = {}
        self._items: dict[int, dict] = {}
        self._criteria: list[str] = ["coherence", "relevance", "depth"]
        self._current_dir: str | None = None
        self._judges: dict[str, Any] = {}
        self._option_widgets: dict[str, tuple[str, QWidget]] = {}
        self._file_prompts = None
        self._build()
        self.refresh_runs()
        self.refresh_judges()
        self._load_prompt_source()

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
        scroll_left.setFrameShape(QFrame.NoFrame)
        scroll_left.setWidget(left)
        left_host = QWidget(self)
        left_col = QVBoxLayout(left_host)
        left_col.setContentsMargins(0, 0, 0, 0)
        left_col.addWidget(scroll_left, 1)
        left_col.addLayout(buttons)  # Compare / Stop stay visible however long the form is
        left_host.setMinimumWidth(340)

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

        self.summary_label = QLabel("Pick a run and press Compare.", right)
        self.summary_label.setObjectName("CompareSummary")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.RichText)
        self.summary_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
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

        self.tabs = QTabWidget(right)
        answers_host = QWidget()
        self.answers_layout = QVBoxLayout(answers_host)
        self.answers_layout.addStretch(1)
        self.answers_scroll = QScrollArea()
        self.answers_scroll.setWidgetResizable(True)
        self.answers_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.answers_scroll.setWidget(answers_host)
        self.tabs.addTab(self.answers_scroll, "Answers side by side")
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("CompareTable")
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setWordWrap(True)
        self.table.verticalHeader().setVisible(False)
        self.tabs.addTab(self.table, "Results table")
        rv.addWidget(self.tabs, 1)

        splitter = QSplitter(Qt.Horizontal, self)
        splitter.addWidget(left_host)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([360, 900])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

    # --- runs, checkpoints, past comparisons -------------------------------------------------------------
    @Slot()
    def refresh_runs(self) -> None:
        from dpostudio.core.runs import list_runs

        current = self.run_combo.currentData()
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        try:
            runs = list_runs()
        except Exception as exc:
            runs = []
            self.message.emit("warning", f"Could not list the runs: {describe_error(exc)}")
        from dpostudio.core.comparison import checkpoints

        for run in runs:
            info = run.info()
            has_final = (run.adapter_dir / "adapter_config.json").is_file()
            steps = checkpoints(run)
            if not has_final and not steps:
                continue
            label = f"{info.get('name') or run.id} · {info.get('status', '?')} · {info.get('model', '')}"
            self.run_combo.addItem(label, str(run.path))
        if current:
            i = self.run_combo.findData(current)
            if i >= 0:
                self.run_combo.setCurrentIndex(i)
        self.run_combo.blockSignals(False)
        if self.run_combo.count() == 0:
            self.summary_label.setText("No run with an adapter yet: train one in the Training pane.")
        self._on_run_changed()

    @Slot(list)
    def set_runs(self, rows: list) -> None:
        """The main window's run list changed (rows from the Metrics pane): re-read the runs."""
        self.refresh_runs()

    def select_run(self, run_path_or_id: str) -> bool:
        for i in range(self.run_combo.count()):
            data = self.run_combo.itemData(i)
            if data == str(run_path_or_id) or Path(data).name == str(run_path_or_id):
                self.run_combo.setCurrentIndex(i)
                return True
        return False

    def _run(self):
        from dpostudio.core.runs import Run

        path = self.run_combo.currentData()
        return Run(Path(path)) if path else None

    @Slot()
    def _on_run_changed(self, *_args) -> None:
        from dpostudio.core.comparison import checkpoints

        self.checkpoint_combo.clear()
        run = self._run()
        if run is None:
            self.past_combo.clear()
            return
        if (run.adapter_dir / "adapter_config.json").is_file():
            self.checkpoint_combo.addItem("final adapter", None)
        for step in reversed(checkpoints(run)):
            self.checkpoint_combo.addItem(f"checkpoint {step}", step)
        self.refresh_past()
        if self.prompt_source.currentData() == "eval":
            self._load_prompt_source()

    def refresh_past(self) -> None:
        from dpostudio.core.comparison_store import list_comparisons

        self.past_combo.clear()
        run = self._run()
        if run is None:
            return
        for row in list_comparisons(run):
            self.past_combo.addItem(f"{row['id']} · {row['status']} · {row['headline']}", row["path"])

    @Slot()
    def _open_selected_past(self) -> None:
        path = self.past_combo.currentData()
        if path:
            self.open_comparison(path)

    def open_comparison(self, path: str) -> None:
        """Show a past comparison from its folder."""
        from dpostudio.core.comparison_store import load

        try:
            data = load(path)
        except Exception as exc:
            self.message.emit("error", f"Could not open the comparison: {describe_error(exc)}")
            return
        meta = data["meta"]
        self._criteria = list(meta.get("criteria") or self._criteria)
        self._reset_results([p["text"] for p in meta.get("prompts", [])])
        for item in data["items"]:
            self._show_item(item)
        self._current_dir = data["path"]
        self._show_summary(data["summary"], meta)
        self.export_button.setEnabled(True)
        self.status_label.setText(f"opened {data['id']} ({meta.get('status', '?')})")

    # --- prompts -------------------------------------------------------------------------------------------
    @Slot()
    def _load_prompt_source(self, *_args) -> None:
        from dpostudio.core import prompt_sets

        key = self.prompt_source.currentData()
        self._file_prompts = None
        try:
            if key == "builtin":
                prompts = prompt_sets.builtin_set()
            elif key == "eval":
                run = self._run()
                if run is None:
                    prompts = []
                else:
                    prompts = prompt_sets.eval_prompts(run.config(), limit=50)
            elif key == "file":
                name, _ = QFileDialog.getOpenFileName(self, "Prompt file", "", "Prompts (*.txt *.jsonl *.json)")
                if not name:
                    return
                prompts = prompt_sets.from_file(name)
            else:
                return  # custom: keep what is in the editor
        except Exception as exc:
            self.message.emit("warning", describe_error(exc))
            self.prompt_count.setText(describe_error(exc))
            return
        if key in ("eval", "file") and any(len(p.messages) > 1 for p in prompts):
            self._file_prompts = prompts  # multi-turn prompts keep their conversation
        self.prompt_edit.blockSignals(True)
        self.prompt_edit.setPlainText("\n".join(p.text.replace("\n", " ") for p in prompts))
        self.prompt_edit.blockSignals(False)
        self._update_prompt_count()

    @Slot()
    def _on_prompts_edited(self) -> None:
        self._file_prompts = None
        if self.prompt_source.currentData() != "custom":
            self.prompt_source.blockSignals(True)
            self.prompt_source.setCurrentIndex(self.prompt_source.findData("custom"))
            self.prompt_source.blockSignals(False)
        self._update_prompt_count()

    def _update_prompt_count(self) -> None:
        n = len([ln for ln in self.prompt_edit.toPlainText().splitlines() if ln.strip() and not ln.startswith("#")])
        self.prompt_count.setText(f"{n} prompt{'s' if n != 1 else ''}")

    def set_prompts(self, prompts: list[str]) -> None:
        self.prompt_edit.setPlainText("\n".join(prompts))

    def prompts(self) -> list:
        from dpostudio.core.prompt_sets import from_lines

        if self._file_prompts is not None:
            return list(self._file_prompts)
        return from_lines(self.prompt_edit.toPlainText(), label=str(self.prompt_source.currentData()))

    # --- judges --------------------------------------------------------------------------------------------
    @Slot()
    def refresh_judges(self) -> None:
        from dpostudio.plugins.manager import get_manager

        current = self.judge_combo.currentData()
        self.judge_combo.blockSignals(True)
        self.judge_combo.clear()
        self.judge_combo.addItem("No judge (answers only)", None)
        try:
            judges = [j for j in get_manager().judges() if "pairwise" in j.modes]
        except Exception as exc:
            judges = []
            self.message.emit("warning", f"Judges could not be listed: {describe_error(exc)}")
        self._judges = {j.id: j for j in judges}
        for j in judges:
            self.judge_combo.addItem(j.title, j.id)
        i = self.judge_combo.findData(current) if current else -1
        self.judge_combo.setCurrentIndex(i if i >= 0 else 0)
        self.judge_combo.blockSignals(False)
        self._on_judge_changed()

    def select_judge(self, judge_id: str | None) -> bool:
        i = self.judge_combo.findData(judge_id)
        if i >= 0:
            self.judge_combo.setCurrentIndex(i)
        return i >= 0

    @Slot()
    def _on_judge_changed(self, *_args) -> None:
        while self.judge_form.rowCount():
            self.judge_form.removeRow(0)
        self._option_widgets = {}
        info = self._judges.get(self.judge_combo.currentData())
        self.judge_help.setText(info.description if info else "Only the answers are shown and saved.")
        if info is None:
            return
        for opt in info.options:
            widget: QWidget
            if opt.kind == "choice":
                widget = QComboBox(self.judge_form_host)
                widget.addItems(opt.choices)
                if opt.default in opt.choices:
                    widget.setCurrentText(str(opt.default))
            elif opt.kind == "int":
                widget = QSpinBox(self.judge_form_host)
                widget.setRange(0, 1_000_000)
                widget.setValue(int(opt.default or 0))
            elif opt.kind == "float":
                widget = QDoubleSpinBox(self.judge_form_host)
                widget.setRange(0.0, 1_000_000.0)
                widget.setDecimals(2)
                widget.setValue(float(opt.default or 0))
            elif opt.kind == "bool":
                widget = QCheckBox(self.judge_form_host)
                widget.setChecked(bool(opt.default))
            else:
                widget = QLineEdit(self.judge_form_host)
                widget.setText("" if opt.default is None else str(opt.default))
                if opt.kind == "secret":
                    widget.setEchoMode(QLineEdit.Password)
                    widget.setPlaceholderText("saved key from Settings")
            widget.setObjectName(f"judge_option_{opt.name}")
            widget.setToolTip(opt.help)
            self.judge_form.addRow(opt.label or opt.name, widget)
            self._option_widgets[opt.name] = (opt.kind, widget)

    def set_judge_option(self, name: str, value: Any) -> None:
        kind, widget = self._option_widgets[name]
        if isinstance(widget, QComboBox):
            widget.setCurrentText(str(value))
        elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
            widget.setValue(value)
        elif isinstance(widget, QCheckBox):
            widget.setChecked(bool(value))
        else:
            widget.setText(str(value))

    def judge_options(self) -> dict:
        options = {}
        for name, (kind, widget) in self._option_widgets.items():
            if isinstance(widget, QComboBox):
                value = widget.currentText()
            elif isinstance(widget, (QSpinBox, QDoubleSpinBox)):
                value = widget.value()
            elif isinstance(widget, QCheckBox):
                value = widget.isChecked()
            else:
                value = widget.text().strip()
            if value not in ("", None):
                options[name] = value
        return options

    # --- running -----------------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    @Slot()
    def start(self) -> None:
        from dpostudio.core.comparison import GenerationSettings

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
        settings = GenerationSettings(max_new_tokens=self.max_new_tokens.value(),
                                      temperature=round(self.temperature.value(), 3),
                                      top_p=round(self.top_p.value(), 3), seed=self.seed.value())
        kwargs = {"run_id": run, "prompts": prompts, "settings": settings,
                  "judge_id": self.judge_combo.currentData(), "judge_options": self.judge_options(),
                  "checkpoint": self.checkpoint_combo.currentData()}
        self._reset_results([p.text for p in prompts])
        self.summary_label.setText("Comparing…")
        self.progress.setRange(0, len(prompts))
        self.progress.setValue(0)
        self._worker = CompareWorker(kwargs)
        self._thread = QThread(self)
        self._thread.setObjectName("comparison")
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.event.connect(self._on_event)
        self._worker.failed.connect(self._on_failed)
        self._worker.done.connect(self._on_done)
        self._worker.done.connect(self._thread.quit)
        self._thread.finished.connect(self._worker.deleteLater)
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
        for w in (self.run_combo, self.checkpoint_combo, self.judge_combo, self.prompt_source, self.open_button):
            w.setEnabled(not running)

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
            self.status_label.setText(f"prompt {event['prompt_index'] + 1}: judging "
                                      f"({event['order'].replace('_', ' ')})")
        elif kind == "judge_error":
            self.message.emit("warning", f"Judge error on prompt {event['prompt_index'] + 1}: {event['message']}")
        elif kind == "item":
            self._show_item(event["item"])
            self.progress.setValue(len(self._items))
        elif kind in ("finished", "cancelled", "failed"):
            self._show_summary(event.get("summary") or {}, None)
            level = {"finished": "info", "cancelled": "warning", "failed": "error"}[kind]
            self.message.emit(level, f"Comparison {kind}: {event['message']}")
            self.status_label.setText(kind)

    @Slot(str)
    def _on_failed(self, text: str) -> None:
        self.summary_label.setText(f"<span style='color:#b03a2e'>{_html(text)}</span>")
        self.message.emit("error", text)

    @Slot(object)
    def _on_done(self, result) -> None:
        self._set_running(False)
        self._worker = None
        self.export_button.setEnabled(self._current_dir is not None)
        self.refresh_past()
        self.comparisonFinished.emit(result)

    # --- results --------------------------------------------------------------------------------------------
    def _reset_results(self, prompts: list[str]) -> None:
        for box in self._boxes.values():
            box.setParent(None)
            box.deleteLater()
        self._boxes, self._items = {}, {}
        for i, text in enumerate(prompts):
            box = AnswerBox(i, text)
            self.answers_layout.insertWidget(self.answers_layout.count() - 1, box)
            self._boxes[i] = box
        headers = ["#", "Prompt", "Base answer", "Tuned answer"]
        headers += [f"{c} (base / tuned)" for c in self._criteria]
        headers += ["Verdict", "Reasoning"]
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(len(prompts))
        for i, text in enumerate(prompts):
            self.table.setItem(i, 0, QTableWidgetItem(str(i + 1)))
            self.table.setItem(i, 1, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        for col, width in enumerate([30, 180, 240, 240] + [110] * len(self._criteria) + [100, 320]):
            self.table.setColumnWidth(col, width)
        header.setStretchLastSection(True)
        self.progress.setRange(0, max(1, len(prompts)))
        self.progress.setValue(0)

    def _show_item(self, item: dict) -> None:
        i = item["index"]
        self._items[i] = item
        box = self._boxes.get(i)
        if box is not None:
            box.set_item(item)
        if i >= self.table.rowCount():
            self.table.setRowCount(i + 1)
        values = [str(i + 1), item["prompt"], item["base"]["answer"], item["tuned"]["answer"]]
        scores = item.get("scores") or {}
        values += [f"{scores[c]['base']:g} / {scores[c]['tuned']:g}" if c in scores else "—" for c in self._criteria]
        values += [VERDICT_TEXT.get(item.get("verdict"), str(item.get("verdict"))) if item.get("judge") else "—",
                   item.get("judge_error") or item.get("reasoning") or ""]
        for col, value in enumerate(values):
            cell = QTableWidgetItem(value)
            cell.setToolTip(value if len(value) < 2000 else value[:2000] + "…")
            if col == 4 + len(self._criteria) and item.get("verdict") in VERDICT_COLOUR:
                cell.setForeground(Qt.GlobalColor.black)
                font = QFont(cell.font())
                font.setBold(True)
                cell.setFont(font)
            self.table.setItem(i, col, cell)
        self.table.resizeRowToContents(i)
        self.progress.setValue(len(self._items))

    def _show_summary(self, summary: dict, meta: dict | None) -> None:
        if not summary:
            return
        headline = summary.get("headline", "")
        parts = [f"<b>{_html(headline)}</b>"]
        means = summary.get("mean_scores") or {}
        if summary.get("judged") and means:
            parts.append("Mean scores (base → tuned): " + ", ".join(
                f"{c} {_num(s.get('base'))} → {_num(s.get('tuned'))}" for c, s in means.items()))
        w, t = summary.get("mean_words") or {}, summary.get("mean_tokens") or {}
        if w:
            parts.append(f"Mean length: base {_num(w.get('base'))} words / {_num(t.get('base'))} tokens, "
                         f"tuned {_num(w.get('tuned'))} words / {_num(t.get('tuned'))} tokens")
        for note in summary.get("notes") or []:
            parts.append(f"<span style='color:#8a5a00'>{_html(note)}</span>")
        extra = []
        if summary.get("adapter"):
            extra.append(summary["adapter"])
        if summary.get("judge"):
            extra.append(f"judge: {summary['judge']}")
        if meta and meta.get("adapter_label"):
            extra = [meta["adapter_label"]] + ([f"judge: {meta['judge']}"] if meta.get("judge") else [])
        if extra:
            parts.append(f"<span style='color:#666'>{_html(' · '.join(extra))}</span>")
        self.summary_label.setText("<br>".join(parts))

    # --- export ------------------------------------------------------------------------------------------
    def export_csv(self, dest: str | Path) -> Path | None:
        from dpostudio.core.comparison_store import write_csv

        if not self._current_dir:
            return None
        path = write_csv(Path(self._current_dir), dest=dest)
        self.message.emit("info", f"Comparison exported to {path}")
        return path

    @Slot()
    def _export_dialog(self) -> None:
        if not self._current_dir:
            return
        name, _ = QFileDialog.getSaveFileName(self, "Export comparison", str(Path.home() / "comparison.csv"),
                                              "CSV (*.csv)")
        if name:
            try:
                self.export_csv(name)
            except OSError as exc:
                self.message.emit("error", f"Could not export: {describe_error(exc)}")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.stop()
        self.wait(10_000)
        super().closeEvent(event)


def _num(value) -> str:
    return "—" if value is None else f"{value:g}"
