"""The Loop tab: the table renders a loop folder written by the core's own writers, a round's run opens in
Metrics, and the form says what is wrong in words (no loop is created)."""

from __future__ import annotations

import pytest

from dpostudio.core.loop import Generator, LoopSpec
from dpostudio.core.loop.loop_spec import LOOP_FILE, Loop, loops_dir
from dpostudio.core.loop.records import write_json
from dpostudio.ui.generate import GeneratePane


def make_loop(name="demo-loop"):
    """A two-round loop as ``run_loop`` leaves it (round 2 stopped while training)."""
    path = loops_dir() / name
    path.mkdir(parents=True)
    spec = LoopSpec(name=name, rounds=2, prompts_per_round=4, heldout=2, eval_judge="local-model")
    data = {"spec": spec.to_dict(safe=True), "start": Generator().to_dict(), "rounds": [], "status": "cancelled"}
    data["prompts"] = {"heldout": [], "rounds": [[], []], "reused": False}
    data["message"] = "stopped; resume to go on from where it stopped"
    write_json(path / LOOP_FILE, data)
    loop = Loop(path)
    loop.save_round(
        {
            "round": 1,
            "step": "done",
            "run_id": f"{name}-r1-20260101",
            "adapter": "/x",
            "counts": {"prompts": 4, "pairs": 3, "ties": 1, "unjudged": 0},
            "eval": {"eval_loss": 0.6812, "eval_rewards/accuracies": 0.75},
            "win_rates": {
                "vs_previous": {"win_rate": 0.625, "judged": 4},
                "vs_base": {"win_rate": 0.625, "judged": 4},
            },
        }
    )
    loop.save_round(
        {
            "round": 2,
            "step": "train",
            "run_id": f"{name}-r2-20260101",
            "counts": {"prompts": 4, "pairs": 2, "ties": 1, "unjudged": 1},
        }
    )
    return loop


@pytest.fixture
def view(qtbot):
    pane = GeneratePane()
    qtbot.addWidget(pane)
    pane.resize(1280, 760)
    pane.tabs.setCurrentIndex(1)
    return pane.loop_view


def test_the_loop_table_renders_the_loop_folder(view, qtbot):
    make_loop()
    with qtbot.waitSignal(view.tableShown, timeout=10_000):
        view.refresh()
    table = view.table
    assert table.rowCount() == 3
    header = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    cells = {h: [table.item(r, c).text() for r in range(3)] for c, h in enumerate(header)}
    assert cells["round"] == ["0", "1", "2"]
    assert cells["run"][0] == "(base model)"
    assert cells["pairs"] == ["—", "3", "2"] and cells["ties"] == ["—", "1", "1"]
    assert cells["eval loss"][1] == "0.6812" and cells["eval acc"][1] == "75%"
    assert cells["win vs prev"][1] == "62%" and cells["win vs base"][1] == "62%"
    assert cells["step"][2] == "train"
    assert "cancelled" in view.status_label.text() and "1 of 2 rounds done" in view.status_label.text()
    assert view.resume_button.isEnabled()

    assert not view.metrics_button.isEnabled()
    table.selectRow(1)
    assert view.metrics_button.isEnabled()
    with qtbot.waitSignal(view.runRequested) as got:
        view.metrics_button.click()
    assert got.args == ["demo-loop-r1-20260101"]


def test_the_loop_form_says_what_is_wrong_in_words(view, qtbot):
    messages = []
    view.message.connect(lambda level, text: messages.append(text))
    view.base_provider = lambda: {"model": "embedded:smollm2-135m-instruct", "max_steps": 5}
    view.start()
    assert "Loop name: give the loop a name" in messages[-1]
    view.form.name_edit.setText("has/slash")
    view.start()
    assert "'has/slash' is not usable" in messages[-1]
    view.form.name_edit.setText("ok-name")
    view.form.ranker.options_edit.setText("oops")
    view.form.ranker.select("judge", None)  # not listed: stays on the model itself
    spec = view.form.spec(view.base_provider())
    assert spec.run_config == {"model": "embedded:smollm2-135m-instruct", "max_steps": 5}
    view.form.steps_spin.setValue(3)
    assert view.form.spec({"max_steps": 5, "dataset": "builtin:demo"}).run_config == {"max_steps": 3}

    def broken():
        from dpostudio.core.training.run_config import ConfigError

        raise ConfigError("learning_rate", "learning rate must be above 0")

    view.base_provider = broken
    view.start()
    assert "Training form has a problem: learning_rate: learning rate must be above 0" in messages[-1]
    assert not list(loops_dir().iterdir())  # nothing was created
