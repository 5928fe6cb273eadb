"""The Training form's method choice: the five methods with their words, the checks between the method and the
fields it makes meaningless (shown under those fields, cleared when the method changes back), and the config the form
builds. ``DPOSTUDIO_SCREENSHOT_DIR`` set: docs/screenshots/training-methods.png is made here."""

import os

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtGui import QPainter

from dpostudio.core.training.method_choices import METHOD_HELP, METHOD_NAMES
from dpostudio.ui.app import create_application
from dpostudio.ui.training.pane import TrainingPane


@pytest.fixture
def pane(qtbot):
    create_application()
    widget = TrainingPane()
    qtbot.addWidget(widget)
    widget.resize(1100, 820)
    widget.show()
    return widget


def test_the_method_choice_offers_each_method_with_its_words(pane):
    combo = pane.editors["method"].widget
    assert [combo.itemText(i) for i in range(combo.count())] == list(METHOD_NAMES)
    assert combo.currentText() == "dpo"
    for i, name in enumerate(METHOD_NAMES):
        assert combo.itemData(i, 3) == METHOD_HELP[name]  # Qt.ToolTipRole
    combo.setCurrentText("simpo")
    assert "SimPO: no reference model" in combo.toolTip()
    for name in ("simpo_gamma", "desirable_weight", "undesirable_weight"):
        assert name in pane.editors
    assert pane.editors["method"].container.parent() is pane.editors["beta"].container.parent()  # both in DPO


def test_a_dpo_loss_with_another_method_is_shown_under_the_loss(pane):
    pane.editors["loss_type"].widget.setCurrentText("ipo")
    pane.editors["method"].widget.setCurrentText("orpo")
    error = pane.editors["loss_type"].error
    assert error.isVisibleTo(pane)
    assert error.text().startswith("applies to the dpo method only; the orpo method has its own loss")
    assert not pane.editors["method"].error.isVisibleTo(pane)
    pane.editors["method"].widget.setCurrentText("dpo")  # back to DPO: the loss is fine again
    assert not error.isVisibleTo(pane)

    pane.editors["loss_type"].widget.setCurrentText("sigmoid")
    pane.editors["per_device_batch_size"].widget.setText("1")
    pane.editors["method"].widget.setCurrentText("kto")
    batch_error = pane.editors["per_device_batch_size"].error
    assert batch_error.isVisibleTo(pane) and "at least 2 answers per batch" in batch_error.text()
    pane.editors["per_device_batch_size"].widget.setText("2")
    assert not batch_error.isVisibleTo(pane)
    assert not set(pane.validate_form()) & {"method", "loss_type", "loss_weights", "per_device_batch_size"}
    values = pane.values()
    assert (values["method"], values["per_device_batch_size"]) == ("kto", 2)


def test_screenshot_of_the_method_choice(pane, qtbot):
    shot = os.environ.get("DPOSTUDIO_SCREENSHOT_DIR")
    pane.editors["loss_type"].widget.setCurrentText("ipo")
    combo = pane.editors["method"].widget
    combo.setCurrentText("kto")  # the last entry: the list opens upwards, the message under the loss stays in view
    pane.form_scroll.ensureWidgetVisible(pane.group_boxes["DPO"], 0, 0)
    qtbot.wait(50)
    combo.showPopup()
    qtbot.wait(100)
    popup = combo.view().window()
    assert popup.isVisible()
    image = pane.grab()
    painter = QPainter(image)  # the popup is its own window: paint it where it stands over the form
    painter.drawPixmap(pane.mapFromGlobal(popup.mapToGlobal(QPoint(0, 0))), popup.grab())
    painter.end()
    combo.hidePopup()
    assert not image.isNull()
    if shot:
        image.save(os.path.join(shot, "training-methods.png"))
