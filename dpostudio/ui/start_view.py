"""The Start pane: a first run's path through the app -- data, train, read, compare, improve -- with each step's
state in words, derived from what exists now (data loaded, runs, their results, saved comparisons).

The window opens here until the user has picked another pane. ``update_state`` takes what the other panes know;
nothing here reads files on the GUI thread (comparisons are counted in a background task by the main window).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

FINISHED = "finished"


@dataclass
class StartState:
    """What the Start pane describes. ``runs`` are the Metrics pane's run rows (id, name, status, eval_acc, ...)."""

    data_source: str = "builtin:demo"  # the dataset the next run trains on (the Dataset pane's choice)
    data_text: str = ""  # once looked at in the Dataset pane, e.g. "360 pairs from builtin:demo"
    runs: list[dict[str, Any]] = field(default_factory=list)
    comparisons: int | None = None  # None: not counted yet
    device: str = ""  # "cpu", "cuda", "mps" ('' = not probed yet)
    training: bool = False


@dataclass
class Step:
    key: str
    title: str
    what: str
    button: str
    pane: str
    status: str = ""
    done: bool = False


def describe_steps(state: StartState) -> list[Step]:
    """The five steps with their status texts, from ``state`` alone (a pure function: easy to test)."""
    finished = [r for r in state.runs if r.get("status") == FINISHED]
    accs = [r["eval_acc"] for r in finished if isinstance(r.get("eval_acc"), (int, float))]
    data = Step(
        "data",
        "1  Choose preference data",
        "Pairs of a prompt, a chosen and a rejected answer. The built-in demo is ready; load your own file or a "
        "Hub dataset, check the rows and the split.",
        "Open Dataset",
        "Dataset",
    )
    data.done = bool(state.data_text) or bool(state.runs)  # a run has trained on data: this step was taken
    if state.data_text:
        data.status = f"Loaded: {state.data_text}."
    elif state.data_source:
        name = "the built-in demo pairs" if state.data_source == "builtin:demo" else state.data_source
        data.status = f"Chosen: {name}. Open the Dataset pane to look at the rows, or train with them as they are."
    else:
        data.status = "Nothing chosen yet."

    train = Step(
        "train",
        "2  Train",
        "DPO with a LoRA adapter on the small embedded model. Pick a preset; the pane says how long and how much "
        "memory a run needs before you start.",
        "Open Training",
        "Training",
    )
    train.done = bool(finished)
    if state.training:
        train.status = "A run is training now."
    elif finished:
        train.status = f"{_count(len(finished), 'finished run')} of {_count(len(state.runs), 'run')}."
    elif state.runs:
        train.status = f"{_count(len(state.runs), 'run')}, none finished yet (Resume continues a stopped one)."
    else:
        cpu = " On this CPU-only computer the Quick preset is preselected." if state.device == "cpu" else ""
        train.status = "No run yet." + cpu

    read = Step(
        "read",
        "3  Read the run",
        "Loss, reward margin and accuracy on pairs the model did not train on, with findings in plain words "
        "(overfitting, likelihood displacement, a too-small beta).",
        "Open Metrics",
        "Metrics",
    )
    read.done = bool(accs)
    read.status = (
        f"Best held-out accuracy so far: {max(accs):.3f} (0.5 is chance)."
        if accs
        else "Shown live while a run trains; finished runs stay listed."
    )

    compare = Step(
        "compare",
        "4  Compare base and tuned",
        "The same prompts answered by the base model and by the tuned one, side by side, optionally judged.",
        "Open Comparison",
        "Comparison",
    )
    compare.done = bool(state.comparisons)
    if state.comparisons:
        compare.status = f"{_count(state.comparisons, 'comparison')} saved."
    elif finished:
        compare.status = "Ready: pick a finished run and press Compare."
    else:
        compare.status = "Needs a finished run."

    improve = Step(
        "improve",
        "5  Improve",
        "Fix or drop the pairs the findings point to, add data, or train again with other settings, and compare "
        "the new run with the last one.",
        "Open Dataset",
        "Dataset",
    )
    improve.done = len(finished) >= 2
    improve.status = (
        "You have compared runs; keep the best one and export it (Tools ▸ Export)."
        if improve.done
        else "After a first run: change one thing, train again, compare."
    )
    return [data, train, read, compare, improve]


def count_comparisons(run_ids: list[str]) -> int:
    """Saved comparisons of these runs (in a background task: it reads their folders)."""
    from dpostudio.core.compare.store import list_comparisons
    from dpostudio.core.training.runs import RunError, get_run

    total = 0
    for run_id in run_ids:
        try:
            total += len(list_comparisons(get_run(run_id)))
        except (RunError, OSError):
            continue
    return total


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def next_step(steps: list[Step]) -> Step | None:
    return next((s for s in steps if not s.done), None)


class StartView(QWidget):
    """Five rows (title, what it is, its status now, a button to the pane); the next step is highlighted."""

    paneRequested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.state = StartState()
        self._rows: dict[str, tuple[QFrame, QLabel, QLabel, QPushButton]] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Tab goes to the buttons, not the scroll area
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(32, 24, 32, 24)
        layout.setSpacing(12)
        heading = QLabel("<h2>Make a model better, step by step</h2>")
        heading.setTextFormat(Qt.TextFormat.RichText)
        intro = QLabel(
            "Direct Preference Optimization teaches a model which of two answers people prefer. "
            "Each step below says where you are; the highlighted one is next."
        )
        intro.setWordWrap(True)
        layout.addWidget(heading)
        layout.addWidget(intro)
        for step in describe_steps(self.state):
            layout.addWidget(self._make_row(step))
        layout.addStretch(1)
        # the buttons share one width, so that they line up in a column on the right
        width = max(row[3].sizeHint().width() for row in self._rows.values())
        for row in self._rows.values():
            row[3].setMinimumWidth(width)
        self.update_state()

    def _make_row(self, step: Step) -> QFrame:
        frame = QFrame(self)
        frame.setObjectName(f"step_{step.key}")
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(frame)
        grid.setContentsMargins(14, 10, 14, 10)
        title = QLabel(f"<b>{step.title}</b>")
        title.setTextFormat(Qt.TextFormat.RichText)
        what = QLabel(step.what)
        what.setWordWrap(True)
        status = QLabel()
        status.setObjectName(f"status_{step.key}")
        status.setWordWrap(True)
        font = status.font()
        font.setItalic(True)  # where you are, apart from what the step is
        status.setFont(font)
        button = QPushButton(step.button)
        button.setObjectName(f"go_{step.key}")
        button.clicked.connect(self._go(step.pane))
        grid.addWidget(title, 0, 0)
        grid.addWidget(what, 1, 0)
        grid.addWidget(status, 2, 0)
        grid.addWidget(button, 0, 1, 3, 1, Qt.AlignmentFlag.AlignVCenter)
        grid.setColumnStretch(0, 1)
        self._rows[step.key] = (frame, title, status, button)
        return frame

    def _go(self, pane: str) -> Callable[[], None]:
        return lambda: self.paneRequested.emit(pane)

    def update_state(self, **changes: Any) -> None:
        """Change what is known (fields of ``StartState``) and redraw every status text from it."""
        for key, value in changes.items():
            setattr(self.state, key, value)
        steps = describe_steps(self.state)
        upcoming = next_step(steps)
        for step in steps:
            frame, _title, status, button = self._rows[step.key]
            mark = "✓ " if step.done else ""
            status.setText(mark + step.status)
            is_next = upcoming is not None and step.key == upcoming.key
            button.setDefault(is_next)
            highlight = f"QFrame#{frame.objectName()} {{ border: 2px solid palette(highlight); }}"
            frame.setStyleSheet(highlight if is_next else "")

    def status_text(self, key: str) -> str:
        return self._rows[key][2].text()

    def highlighted(self) -> str | None:
        return next((key for key, (_f, _t, _s, button) in self._rows.items() if button.isDefault()), None)
