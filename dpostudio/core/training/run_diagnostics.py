"""The engine's diagnostics: ``Diagnostics`` reads a run's log and eval events as they go by (``RunWatcher``), keeps
``findings.json`` current and turns new findings into ``finding`` events. It never stops a run."""

from __future__ import annotations

import logging

from dpostudio.core.diagnostics.findings import RunWatcher, save_findings
from dpostudio.core.training import distributed
from dpostudio.core.training.event_types import EVAL, FINDING, LOG, FindingEvent, TrainingEvent
from dpostudio.core.training.method_choices import get_method
from dpostudio.core.training.runs import Run

log = logging.getLogger(__name__)


def checkpoint_step(checkpoint) -> int | None:
    """The step of a ``checkpoint-N`` folder (None for no checkpoint)."""
    return int(checkpoint.name.rsplit("-", 1)[-1]) if checkpoint is not None else None


class Diagnostics:
    """Reads the run's log and eval events as they go by (``RunWatcher``) and keeps ``findings.json`` current.

    It never stops a run: a failure here is logged and the diagnostics go quiet.
    """

    def __init__(self, run: Run, resuming: bool):
        self.run = run
        self.watcher: RunWatcher | None = None
        self._bias_read = False  # run.json gets the data's length figures once the data is loaded
        try:
            if distributed.is_main_process():
                self.watcher = RunWatcher(reference_free=get_method(run.config().method).reference_free)
            if self.watcher is None:  # under accelerate the main process alone keeps findings.json
                return
            if resuming:  # replay the records the run keeps (up to its checkpoint): the kinds they raised stay raised
                self.watcher.max_steps = run.max_steps()
                checkpoint = checkpoint_step(run.latest_checkpoint())
                if checkpoint is None:  # it cannot resume (the run fails with words): leave its folder alone
                    return
                for record in run.records():
                    if record["step"] <= checkpoint:
                        self.watcher.feed(record)
            save_findings(run.path, self.watcher.findings)
        except Exception:
            self._give_up()

    def observe(self, event: TrainingEvent) -> list[FindingEvent]:
        """The ``finding`` events that a ``log`` or ``eval`` event gives rise to."""
        if self.watcher is None or event["type"] not in (LOG, EVAL):
            return []
        try:
            if event["type"] == LOG and event["max_steps"] > 0:
                self.watcher.max_steps = event["max_steps"]
            if not self._bias_read:
                self.watcher.length_bias = self.run.info().get("length_bias")
                self._bias_read = True
            found = self.watcher.feed({"step": event["step"], "epoch": event["epoch"], **event["metrics"]})
            if found:
                save_findings(self.run.path, self.watcher.findings)
        except Exception:
            self._give_up()
            return []
        return [{"type": FINDING, "step": event["step"], "finding": f.to_dict()} for f in found]

    def _give_up(self) -> None:
        log.exception("diagnostics failed; training goes on without them")
        self.watcher = None
        try:
            self.run.log("diagnostics stopped after an internal error (training goes on)")
        except OSError:
            pass
