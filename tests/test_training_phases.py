"""The engine's TRL callback reports evaluation and saving as ``phase`` events, and a stop asked for around an
evaluation saves and ends the run without another training step. Driven through transformers' own callback handler
and DefaultFlowCallback (the objects the Trainer uses), without a model."""

from __future__ import annotations

import threading

import pytest
from transformers import TrainingArguments
from transformers.trainer_callback import CallbackHandler, DefaultFlowCallback, TrainerControl, TrainerState

from dpostudio.core.training.event_types import CHECKPOINT, EVAL, EVALUATING, PHASE, SAVING
from dpostudio.core.training.events import EngineCallback


@pytest.fixture
def flow(tmp_path):
    """(handler, callback, args, state, control, events, cancel) for a 12-step run evaluating every 6 steps."""
    args = TrainingArguments(
        output_dir=str(tmp_path),
        eval_strategy="steps",
        eval_steps=6,
        save_steps=100,
        logging_steps=1,
        max_steps=12,
        report_to="none",
        use_cpu=True,
    )
    events, cancel = [], threading.Event()
    callback = EngineCallback(events.append, cancel)
    handler = CallbackHandler([DefaultFlowCallback, callback], None, None, None, None)
    state = TrainerState(max_steps=12, logging_steps=1, eval_steps=6, save_steps=100)
    control = TrainerControl()
    handler.on_train_begin(args, state, control)
    return handler, callback, args, state, control, events, cancel


def _step(handler, args, state, control, step):
    state.global_step = step
    return handler.on_step_end(args, state, control)


def _evaluate(handler, args, state, control, batches, on_batch=None):
    loader = list(range(batches))  # what the callback reads is its length
    handler.eval_dataloader = loader
    for i in range(batches):
        control = handler.on_prediction_step(args, state, control)
        if on_batch:
            on_batch(i + 1)
    handler.on_log(args, state, control, logs={"eval_loss": 0.69, "eval_rewards/accuracies": 0.5})
    return handler.on_evaluate(args, state, control, metrics={"eval_loss": 0.69})


def test_an_evaluation_reports_its_batches_as_phase_events(flow):
    handler, callback, args, state, control, events, _cancel = flow
    control = _step(handler, args, state, control, 5)
    assert not control.should_evaluate and not [e for e in events if e["type"] == PHASE]
    control = _step(handler, args, state, control, 6)
    assert control.should_evaluate
    control = _evaluate(handler, args, state, control, 3)
    phases = [(e["phase"], e["step"], e["done"], e["total"]) for e in events if e["type"] == PHASE]
    assert phases == [(EVALUATING, 6, 0, None), (EVALUATING, 6, 1, 3), (EVALUATING, 6, 2, 3), (EVALUATING, 6, 3, 3)]
    assert events[-1]["type"] == EVAL and events[-1]["step"] == 6  # the eval event ends the phase
    assert not control.should_training_stop and not callback.cancelled


def test_a_stop_during_an_evaluation_saves_after_it_and_runs_no_further_step(flow):
    handler, callback, args, state, control, events, cancel = flow
    control = _step(handler, args, state, control, 6)
    control = _evaluate(handler, args, state, control, 4, on_batch=lambda k: cancel.set() if k == 2 else None)
    # the evaluation finished (it cannot be cut short); then the run saves this step and stops
    assert [e["done"] for e in events if e["type"] == PHASE and e["phase"] == EVALUATING] == [0, 1, 2, 3, 4]
    assert callback.cancelled and control.should_training_stop and control.should_save
    assert events[-1] == {"type": PHASE, "phase": SAVING, "step": 6, "done": 0, "total": 1}
    handler.on_save(args, state, control)
    assert events[-1]["type"] == CHECKPOINT and events[-1]["step"] == 6


def test_a_stop_before_a_due_evaluation_skips_it_and_saves(flow):
    handler, callback, args, state, control, events, cancel = flow
    cancel.set()
    control = _step(handler, args, state, control, 6)
    assert callback.cancelled and control.should_training_stop and control.should_save
    assert not control.should_evaluate
    assert [(e["phase"], e["step"]) for e in events if e["type"] == PHASE] == [(SAVING, 6)]


def test_each_extra_eval_set_is_named_and_saving_follows_the_last(tmp_path):
    args = TrainingArguments(
        output_dir=str(tmp_path),
        eval_strategy="steps",
        eval_steps=2,
        save_steps=2,
        max_steps=4,
        report_to="none",
        use_cpu=True,
    )
    events = []
    callback = EngineCallback(events.append, threading.Event(), eval_sets=["eval", "hard"])
    handler = CallbackHandler([DefaultFlowCallback, callback], None, None, None, None)
    state, control = TrainerState(max_steps=4, eval_steps=2, save_steps=2, logging_steps=1), TrainerControl()
    handler.on_train_begin(args, state, control)
    control = _step(handler, args, state, control, 2)
    assert control.should_evaluate and control.should_save
    for name in ("eval", "hard"):
        handler.eval_dataloader = [0, 1]
        control = handler.on_prediction_step(args, state, control)
        assert events[-1].get("eval_set") == (None if name == "eval" else "hard")
        control = handler.on_evaluate(args, state, control, metrics={})
        if name == "eval":
            assert events[-1]["phase"] == EVALUATING  # no saving between the two sets
    assert events[-1]["phase"] == SAVING
