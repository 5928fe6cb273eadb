"""The window's shell: the Start pane's path and its state texts, the wheel guard, the question on quitting while
a run trains, the application icon and the Mac menu roles."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QAction, QWheelEvent
from PySide6.QtWidgets import QApplication, QComboBox, QScrollArea, QSpinBox, QVBoxLayout, QWidget

from dpostudio.ui.app import create_application
from dpostudio.ui.main_window import MainWindow
from dpostudio.ui.start_view import StartState, describe_steps


@pytest.fixture
def window(qtbot):
    create_application()
    win = MainWindow(probe_device=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def _wheel(widget: QWidget, clicks: int = 1) -> None:
    center = QPointF(widget.rect().center())
    event = QWheelEvent(
        center,
        QPointF(widget.mapToGlobal(center.toPoint())),
        QPoint(0, 0),
        QPoint(0, 120 * clicks),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_the_wheel_changes_a_spin_or_combo_box_only_when_it_has_focus(qtbot):
    create_application()
    scroll = QScrollArea()
    qtbot.addWidget(scroll)
    body = QWidget()
    layout = QVBoxLayout(body)
    spin, combo = QSpinBox(), QComboBox()
    spin.setRange(0, 100)
    spin.setValue(42)
    combo.addItems(["a", "b", "c"])
    layout.addWidget(spin)
    layout.addWidget(combo)
    layout.addSpacing(2000)  # a long page: the wheel should scroll it
    scroll.setWidget(body)
    scroll.resize(300, 200)
    scroll.show()
    qtbot.waitExposed(scroll)
    assert spin.focusPolicy() == Qt.FocusPolicy.StrongFocus  # not WheelFocus: the wheel gives no focus
    _wheel(spin, -1)
    _wheel(combo, -1)
    assert spin.value() == 42 and combo.currentIndex() == 0
    assert scroll.verticalScrollBar().value() > 0  # the page scrolled instead
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=2000)
    _wheel(spin, 1)
    assert spin.value() == 43


def test_start_steps_are_derived_from_the_state():
    steps = {s.key: s for s in describe_steps(StartState(device="cpu"))}
    assert steps["data"].status.startswith("Chosen: the built-in demo pairs") and not steps["data"].done
    assert "Quick preset" in steps["train"].status
    assert steps["compare"].status == "Needs a finished run."
    runs = [
        {"id": "a", "status": "finished", "eval_acc": 0.9},
        {"id": "b", "status": "stopped", "eval_acc": None},
    ]
    steps = {s.key: s for s in describe_steps(StartState(data_text="360 pairs from demo", runs=runs, comparisons=0))}
    assert steps["data"].done and "360 pairs" in steps["data"].status
    assert steps["train"].status == "1 finished run of 2 runs."
    assert "0.900" in steps["read"].status
    assert steps["compare"].status.startswith("Ready") and not steps["compare"].done
    assert not steps["improve"].done


def test_the_window_opens_on_start_and_its_texts_follow_the_panes(window, qtbot):
    assert window.current_pane() == "Start"  # a first launch (no saved pane)
    start = window.start_view
    assert start.highlighted() == "data" and "Chosen: the built-in demo" in start.status_text("data")
    with qtbot.waitSignal(window.dataset_pane.dataLoaded, timeout=60_000):
        start.findChild(QWidget, "go_data").click()
        assert window.current_pane() == "Dataset"
        window.dataset_pane.load()
    assert "Loaded: " in start.status_text("data") and "pairs from" in start.status_text("data")
    assert start.highlighted() == "train"
    window.metrics_pane.runsChanged.emit([{"id": "r1", "status": "finished", "eval_acc": 0.75}])
    assert "1 finished run" in start.status_text("train") and "0.750" in start.status_text("read")
    qtbot.waitUntil(lambda: start.state.comparisons == 0, timeout=10_000)  # counted in the background
    assert start.highlighted() == "compare"
    start.findChild(QWidget, "go_compare").click()
    assert window.current_pane() == "Comparison"


def test_quitting_while_training_asks_and_keep_training_keeps_the_window(window, qtbot, monkeypatch):
    pane = window.training_pane
    stops = []
    monkeypatch.setattr(pane, "is_training", lambda: True)  # a run is training (its process is not needed here)
    monkeypatch.setattr(pane, "stop_training", lambda: stops.append(True) or True)

    def answer(which: str):
        def click():
            box = window.quit_question
            assert box is not None and box.isVisible()
            getattr(box, which).click()

        QTimer.singleShot(200, click)

    answer("keep_button")
    window.close()
    assert window.isVisible() and not stops  # Keep Training: nothing stopped, the window stays
    answer("stop_button")
    window.close()
    assert stops == [True] and window.isVisible()  # Stop and Quit: stopping; it closes once the run has ended
    assert window._close_after_stop


def test_icon_and_mac_menu_roles():
    app = create_application()
    assert not app.windowIcon().isNull() and app.windowIcon().availableSizes()
    win = MainWindow(probe_device=False)
    try:
        roles = {name: win.actions_by_name[name].menuRole() for name in ("about", "settings", "quit")}
        assert roles == {
            "about": QAction.MenuRole.AboutRole,
            "settings": QAction.MenuRole.PreferencesRole,
            "quit": QAction.MenuRole.QuitRole,
        }
    finally:
        win.deleteLater()


def test_the_pair_explorer_opens_from_tools_and_a_saved_version_becomes_the_data(window, qtbot, tmp_path):
    window.actions_by_name["explorer"].trigger()
    assert window.explorer_window.isVisible()
    window.explorer_window.close()
    version = tmp_path / "v1.jsonl"
    version.write_text('{"prompt": "Hi?", "chosen": "Hello.", "rejected": "Go away."}\n', encoding="utf-8")
    window.dataset_pane.set_data_config({**window.dataset_pane.data_config(), "first_n": 50})
    window.train_on_version(str(version))
    config = window.dataset_pane.data_config()
    assert config["dataset"] == str(version) and config["first_n"] is None  # the version is already the subset
    assert window.current_pane() == "Training"
