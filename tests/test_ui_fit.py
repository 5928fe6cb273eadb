"""The window at 1280×800 (a 13-inch laptop) with data in every pane: no pane scrolls sideways, none asks for more
width than the window has, no button or one-line label is cut; and Tab walks each form in the order it reads
(pytest-qt, offscreen; the offscreen screen is smaller, the window is resized to 1280×800 regardless)."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QApplication,
    QLabel,
    QScrollArea,
    QTabWidget,
    QWidget,
)

from dpostudio.core.compare import store
from dpostudio.ui.app import create_application
from dpostudio.ui.main_window import PANES, MainWindow

WIDTH, HEIGHT = 1280, 800
LOAD_TIMEOUT = 120_000


def stored_comparison(run, prompts: list[str]) -> None:
    """A judged comparison folder as the core writes it (three criteria: the widest results table)."""
    folder = store.new_folder(run)
    criteria = ["coherence", "relevance", "depth"]
    store.write_meta(
        folder,
        {
            "run": run.id,
            "criteria": criteria,
            "prompts": [{"text": p} for p in prompts],
            "status": "finished",
            "created_at": time.time(),
            "judge": "openai-compatible",
            "adapter_label": "final adapter",
        },
    )
    reasoning = "Response B answers the question directly and explains why; response A wanders off. " * 3
    for i, prompt in enumerate(prompts):
        answer = {"words": 40, "tokens": 60, "seconds": 0.5, "stop": "eos"}
        store.append_item(
            folder,
            {
                "index": i,
                "prompt": prompt,
                "base": dict(answer, answer="A long base answer that goes on and on. " * 8),
                "tuned": dict(answer, answer="A long tuned answer that goes on and on. " * 8),
                "judge": "openai-compatible",
                "verdict": "tuned",
                "scores": {c: {"base": 4.0, "tuned": 7.5} for c in criteria},
                "reasoning": f"base first: {reasoning} | tuned first: {reasoning}",
                "judgements": [
                    {"order": "base_first", "winner": "tuned", "reasoning": reasoning},
                    {"order": "tuned_first", "winner": "tuned", "reasoning": reasoning},
                ],
                "judge_error": None,
                "position_disagreement": False,
            },
        )
    store.write_summary(folder, {"headline": "Tuned better in 2/2 prompts", "counts": {"tuned": 2}})


@pytest.fixture
def window(qtbot):
    create_application()
    win = MainWindow(probe_device=False)
    qtbot.addWidget(win)
    win.resize(WIDTH, HEIGHT)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.training_pane.controller.stop()
    win.training_pane.controller.wait(60_000)


@pytest.fixture
def full_window(qtbot, fake_run, window):
    """The window with something in every pane: the demo pairs loaded, a finished run, a judged comparison."""
    stored_comparison(fake_run, ["What is the capital of France, and why is it there? " * 4, "Write a haiku."])
    with qtbot.waitSignal(window.dataset_pane.dataLoaded, timeout=LOAD_TIMEOUT):
        window.dataset_pane.load()
    window.metrics_pane.refresh_runs()
    qtbot.waitUntil(lambda: window.metrics_pane.table.topLevelItemCount() == 1, timeout=30_000)
    window.metrics_pane.table.topLevelItem(0).setSelected(True)
    window.comparison_pane.refresh_runs()
    assert window.comparison_pane.show_latest_comparison()
    qtbot.waitUntil(lambda: window.comparison_pane.table.rowCount() == 2, timeout=30_000)
    return window


def _inside_scrolled_content(widget: QWidget, stop: QWidget) -> bool:
    parent = widget.parentWidget()
    while parent is not None and parent is not stop:
        area = parent.parentWidget()
        if isinstance(area, QAbstractScrollArea) and parent is area.viewport():
            return True
        parent = parent.parentWidget()
    return False


def WIDE_TABLES(pane: QWidget) -> list[QWidget]:  # noqa: N802 - reads as a constant
    """Data tables with more columns than any laptop shows, which scroll inside themselves (their own test checks
    that the columns that matter come first): the comparison results (prompt, verdict, a column per criterion,
    reasoning, both answers; the answers are also in the side-by-side tab)."""
    return [t for t in pane.findChildren(QWidget, "CompareTable")]


def _fit_problems(pane: QWidget) -> list[str]:
    """What does not fit in ``pane`` as it is shown now."""
    problems = []
    for area in pane.findChildren(QAbstractScrollArea):
        if not area.isVisible():
            continue
        name = f"{type(area).__name__} {area.objectName()!r} in {type(area.parentWidget()).__name__}"
        if area.horizontalScrollBar().isVisible() and area not in WIDE_TABLES(pane):
            problems.append(f"{name} scrolls sideways ({area.horizontalScrollBar().maximum()} px)")
        content = area.widget() if isinstance(area, QScrollArea) else None
        if content is not None and content.minimumSizeHint().width() > area.viewport().width():
            problems.append(
                f"{name}: its content needs {content.minimumSizeHint().width()} px, the view has "
                f"{area.viewport().width()} px"
            )
    for widget in pane.findChildren(QWidget):
        if not widget.isVisible():
            continue
        if isinstance(widget, QLabel) and widget.text() and not widget.wordWrap():
            text = widget.text()
            if "<" not in text and widget.sizeHint().width() > widget.width() + 1:
                problems.append(f"label {text[:50]!r} is cut ({widget.sizeHint().width()} > {widget.width()} px)")
        if isinstance(widget, QAbstractButton) and widget.text() and widget.sizeHint().width() > widget.width() + 1:
            problems.append(f"button {widget.text()!r} is cut ({widget.sizeHint().width()} > {widget.width()} px)")
        if not _inside_scrolled_content(widget, pane):
            right = widget.mapTo(pane, QPoint(widget.width(), 0)).x()
            if right > pane.width() + 1:
                problems.append(f"{type(widget).__name__} {widget.objectName()!r} ends at x={right} > {pane.width()}")
    return problems


def _each_inner_tab(pane: QWidget):
    """Show each page of the pane's own tab widgets in turn (the Rows / Problems / Statistics tabs and so on)."""
    yield "main"
    for tabs in pane.findChildren(QTabWidget):
        if not tabs.isVisible():
            continue
        for i in range(tabs.count()):
            tabs.setCurrentIndex(i)
            yield tabs.tabText(i)


def test_every_pane_fits_1280_by_800_without_sideways_scrolling(full_window, qtbot):
    window = full_window
    assert window.size().width() == WIDTH and window.size().height() == HEIGHT
    assert window.minimumSizeHint().width() <= WIDTH
    problems = []
    for name in PANES:
        window.show_pane(name)
        pane = window.panes[name]
        qtbot.wait(50)
        assert pane.minimumSizeHint().width() <= WIDTH, name
        assert pane.width() >= WIDTH - 40, name  # the pane gets the window's width
        for page in _each_inner_tab(pane):
            QApplication.processEvents()
            problems += [f"{name} ({page}): {p}" for p in _fit_problems(pane)]
    assert not problems, "\n".join(problems)


def _visit_with_tab(window, first: QWidget, count: int, qtbot) -> list[QWidget]:
    """Focus ``first`` and press Tab ``count`` - 1 times, as a keyboard user does; the widgets focused in turn."""
    window.activateWindow()
    first.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    visited = [QApplication.focusWidget()]
    for _ in range(count - 1):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        visited.append(QApplication.focusWidget())
    return visited


def _owner(widget: QWidget) -> QWidget:
    """The field a focused widget belongs to (an editable combo box focuses its line edit, a spin box its own)."""
    parent = widget.parentWidget()
    from PySide6.QtWidgets import QAbstractSpinBox, QComboBox

    return parent if isinstance(parent, (QComboBox, QAbstractSpinBox)) else widget


def test_tab_walks_the_training_form_column_by_column_top_to_bottom(window, qtbot):
    window.show_pane("Training")
    pane = window.training_pane
    form = pane.form_scroll.widget()
    fields = [e.widget for e in pane.editors.values()]
    first = pane.editors[pane.form_fields[pane.form_columns[0][0]][0]].widget
    visited = []
    for widget in _visit_with_tab(window, first, len(fields), qtbot):
        widget = _owner(widget)
        if not visited or visited[-1] is not widget:
            visited.append(widget)
    assert set(visited) == set(fields), "Tab leaves the form before every field was visited"
    middle = form.width() / 2

    def place(widget):
        at = widget.mapTo(form, QPoint(0, 0))
        return (0 if at.x() < middle else 1, at.y())

    assert [place(w) for w in visited] == sorted(place(w) for w in visited)
    # the left column comes first: the model, the preset and Train come before the form
    chain = [pane.model_source, pane.preset, pane.train_button]
    visited = _visit_with_tab(window, pane.model_source, 3, qtbot)
    assert visited == chain


def _focus_order(pane: QWidget) -> list[QWidget]:
    """The pane's widgets that Tab reaches, in the focus chain's order (visible and enabled ones)."""
    order, widget = [], pane.nextInFocusChain()
    while widget is not pane and len(order) < 500:
        takes_tab = bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus)
        if takes_tab and widget.isVisible() and widget.isEnabled() and pane.isAncestorOf(widget):
            owner = _owner(widget)
            if not order or order[-1] is not owner:
                order.append(owner)
        widget = widget.nextInFocusChain()
    return order


def _reading_place(widget: QWidget, pane: QWidget) -> tuple[int, int, int]:
    """Where ``widget`` reads in ``pane``: (the top of its section, its height in that section, its x); a section is
    a scroll area's content (which reads in full before what is pinned below the area) or the pane itself."""
    at = widget.mapTo(pane, QPoint(0, 0))
    parent = widget.parentWidget()
    while parent is not None and parent is not pane:
        area = parent.parentWidget()
        if isinstance(area, QScrollArea) and parent is area.viewport():
            content = area.widget()
            return area.mapTo(pane, QPoint(0, 0)).y(), widget.mapTo(content, QPoint(0, 0)).y(), at.x()
        parent = parent.parentWidget()
    return at.y(), 0, at.x()


@pytest.mark.parametrize("name", ["Settings", "Comparison", "Metrics", "Start"])  # Training: the test above
def test_tab_order_reads_top_to_bottom_and_never_stops_on_a_scroll_area(window, qtbot, name):
    window.show_pane(name)
    pane = window.panes[name]
    qtbot.wait(50)
    order = _focus_order(pane)
    assert len(order) >= 5
    assert not [w for w in order if isinstance(w, QScrollArea)], "Tab stops on an invisible scroll area"
    # the side column of Comparison reads first, then the main part; Tab goes down each of them, or
    # right along a row, never back up (a row's widgets may sit a few pixels apart, vertically centred)
    side_width = pane.width() * 0.25 if name == "Comparison" else 0
    columns: dict[bool, list[tuple[tuple[int, int, int], QWidget]]] = {}
    for widget in order:
        place = _reading_place(widget, pane)
        columns.setdefault(place[2] >= side_width, []).append((place, widget))
    if side_width:
        sides = [_reading_place(w, pane)[2] >= side_width for w in order]
        assert sides == sorted(sides), "Tab goes back and forth between the side column and the main part"
    for column in columns.values():
        for (before, first), (after, second) in zip(column, column[1:]):
            same_section = after[0] == before[0] and (after[1] or before[1])
            goes_on = after[1] >= before[1] - 8 if same_section else after[0] >= before[0] - 8
            assert goes_on, (
                f"Tab goes up from {first.objectName() or type(first).__name__} {before} to "
                f"{second.objectName() or type(second).__name__} {after}"
            )


def test_train_stop_and_the_run_status_stay_in_view_and_the_bar_text_fits(window, qtbot):
    """At 1280×800 (with the log area open) Train, Stop, the progress bar and the status line are on screen without
    scrolling the side column, and a long preparation phase is shortened in the bar, in full on the line below."""
    from PySide6.QtGui import QFontMetrics

    from dpostudio.core.training.event_types import STAGE

    window.show_pane("Training")
    pane = window.training_pane
    qtbot.wait(50)
    status = pane.run_status
    status.start()
    phase = "reference log-probs (train pairs new to the cache): 146 of 320"
    status.on_event({"type": STAGE, "message": phase, "fraction": 0.45})
    status.stop_requested()
    QApplication.processEvents()
    bar = pane.progress
    for widget in (pane.train_button, pane.stop_button, pane.resume_button, bar, pane.status):
        assert widget.isVisible()
        shown = widget.visibleRegion().boundingRect()
        assert shown.size() == widget.size(), f"{widget.objectName()} is partly out of view: {shown}"
        assert widget.mapTo(window, QPoint(0, widget.height())).y() <= window.centralWidget().geometry().bottom()
    assert QFontMetrics(bar.font()).horizontalAdvance(bar.text()) <= bar.width() - 8, bar.text()
    assert bar.text().endswith("146 of 320") and bar.text().startswith("stopping")
    assert phase in pane.status.text()
