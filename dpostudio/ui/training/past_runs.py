"""What the Training pane offers from past runs: Resume (which run, from which step), "Train again with these
settings", and the quick preset for a first run on a CPU-only machine.

``PastRunsMixin`` reads the run history off the GUI thread (``core.training.run_history.scan_history``) when the
pane opens, after each run and whenever the Metrics pane's history changes; ``history`` holds the last reading.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QLabel, QMenu, QPushButton, QSizePolicy, QToolButton, QWidget

from dpostudio.core.training.run_history import History, ResumeOffer
from dpostudio.ui.tasks import Task, run_task

if TYPE_CHECKING:
    from dpostudio.ui.training.worker import TrainingController

    _MixinBase = QWidget  # only ever mixed into a QWidget (``TrainingPane``)
else:
    _MixinBase = object

QUICK_PRESET = "Quick demo (CPU)"


class PastRunsMixin(_MixinBase):
    """Resume offer, the "Train again" menu and the first-run preset of ``TrainingPane``."""

    history: History | None
    resume_offer: ResumeOffer | None
    newest_resumable: str | None
    last_run_id: str | None
    last_run_resumable: bool
    _resumable_task: Task | None
    _resumable_again: bool
    _first_run_checked: bool

    if TYPE_CHECKING:  # provided by TrainingPane and its other mixins
        message = Signal(str, str)
        controller: TrainingController
        hardware: object
        resume_button: QPushButton
        form_restored: bool

        def _update_buttons(self) -> None: ...
        def apply_preset(self, name: str) -> None: ...
        def load_config(self, config) -> None: ...
        def update_estimates(self) -> None: ...

    def _build_past_runs(self, parent: QWidget) -> None:
        self.resume_label = QLabel(parent)
        self.resume_label.setObjectName("resume_offer")
        self.resume_label.setWordWrap(True)
        self.resume_label.hide()
        self.train_again_button = QToolButton(parent)
        self.train_again_button.setObjectName("train_again_button")
        self.train_again_button.setText("Train again with a past run's settings")
        self.train_again_button.setToolTip("Fill the form with the settings of a run from the history.")
        self.train_again_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.train_again_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.train_again_menu = QMenu(self.train_again_button)
        self.train_again_button.setMenu(self.train_again_menu)
        self.train_again_button.setEnabled(False)

    # ---- reading the history ----------------------------------------------------------------------
    @Slot()
    def refresh_resumable(self) -> None:
        """Read the run history off the GUI thread; Resume, its words and the "Train again" menu follow it."""
        if self._resumable_task is not None and self._resumable_task.is_running():
            self._resumable_again = True  # what it reads may already be out of date: look once more after it
            return
        from dpostudio.core.training.run_history import scan_history

        def found(history: History | None) -> None:
            self.set_history(history or History())
            if self._resumable_again:
                self._resumable_again = False
                self.refresh_resumable()

        self._resumable_task = run_task(self, scan_history, on_result=found, on_error=lambda *_: found(None))

    def set_history(self, history: History) -> None:
        self.history = history
        self.resume_offer = history.resumable
        self.newest_resumable = history.resumable.run_id if history.resumable else None
        self._fill_train_again_menu()
        self._update_buttons()
        self.update_estimates()
        self.maybe_preselect_quick_preset()

    @Slot(list)
    def set_runs(self, rows: list) -> None:
        """The run history changed (rows of the Metrics pane, newest first, each with ``resumable``)."""
        run_id = next((row["id"] for row in rows if row.get("resumable")), None)
        if run_id != self.newest_resumable:
            self.newest_resumable = run_id
            if self.resume_offer is not None and self.resume_offer.run_id != run_id:
                self.resume_offer = None
            self._update_buttons()
        known = {run.run_id for run in self.history.runs} if self.history is not None else set()
        if (
            self.history is None
            or {row["id"] for row in rows} != known
            or (run_id and (self.resume_offer is None or self.resume_offer.run_id != run_id))
        ):
            self.refresh_resumable()  # the details (checkpoint step, settings, step times) come from the disk

    # ---- Resume -----------------------------------------------------------------------------------
    def resumable_run_id(self) -> str | None:
        """The run Resume continues: the last run of this session if it stopped, failed or was interrupted with a
        checkpoint, else the newest such run on disk (which includes runs whose process was killed before the
        app was last closed: their status reads "interrupted")."""
        if self.last_run_id and self.last_run_resumable:
            return self.last_run_id
        return self.newest_resumable

    def can_resume(self) -> bool:
        return not self.controller.is_running() and self.resumable_run_id() is not None

    def resume_words(self) -> str:
        """Which run Resume continues and from which step, in words ("" when there is nothing to resume)."""
        run_id = self.resumable_run_id()
        if run_id is None:
            return ""
        offer = self.resume_offer
        if offer is not None and offer.run_id == run_id:
            return offer.describe()
        return f"Resume continues run {run_id} from its last checkpoint."

    def _show_resume_offer(self, running: bool) -> None:
        words = "" if running else self.resume_words()
        said = self.last_run_resumable and self.resumable_run_id() == self.last_run_id  # the status line says it
        self.resume_label.setText(words)
        self.resume_label.setVisible(bool(words) and not said)
        run_id = self.resumable_run_id()
        self.resume_button.setToolTip(
            f"{words}\nRun {run_id}"
            if words and run_id
            else "Continue a stopped, failed or interrupted run from its last checkpoint (none yet)."
        )

    # ---- Train again --------------------------------------------------------------------------------
    def _fill_train_again_menu(self) -> None:
        self.train_again_menu.clear()
        runs = self.history.runs if self.history is not None else []
        for run in runs[:15]:
            action = self.train_again_menu.addAction(run.describe())
            action.setToolTip(f"Fill the form with the settings of run {run.run_id}")
            action.triggered.connect(lambda _checked=False, run_id=run.run_id: self.load_run_settings(run_id))
        self.train_again_button.setEnabled(bool(runs))

    def load_run_settings(self, run_id: str) -> bool:
        """Fill the form (and the Dataset pane's settings) with a past run's config, to train again with it."""
        from dpostudio.core.training.runs import get_run

        try:
            config = get_run(run_id).config()
        except Exception as exc:
            self.message.emit("error", f"could not read the settings of run {run_id}: {exc}")
            return False
        self.load_config(config)
        self.message.emit("info", f"the form holds the settings of run {run_id}: press Train to train again")
        return True

    # ---- a first run on a CPU-only machine --------------------------------------------------------
    def maybe_preselect_quick_preset(self) -> bool:
        """For a first run (no past run, no remembered form) on a machine without a GPU, choose the quick preset."""
        hardware = self.hardware
        if self._first_run_checked or hardware is None or self.history is None:
            return False
        self._first_run_checked = True
        has_gpu = bool(getattr(hardware, "cuda_available", False) or getattr(hardware, "mps_available", False))
        if has_gpu or self.history.runs or self.form_restored or self.controller.is_running():
            return False
        self.apply_preset(QUICK_PRESET)
        self.message.emit("info", "no GPU found: the quick CPU preset is chosen for a first run")
        return True
