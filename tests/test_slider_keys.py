"""Keys on the editor's sliders: arrows, PageUp/PageDown, Home and End move them (superqt's double slider
ignores them by itself), and each move is an edit like a click."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def group(qtbot):
    from app.panels import SliderGroup

    widget = SliderGroup(["first", "second"], -3.0, 3.0)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.mark.parametrize("inner", [False, True], ids=["labeled slider", "its slider part"])
def test_keys_move_the_slider_and_say_so(qtbot, group, inner):
    from PySide6.QtCore import Qt

    slider = group.sliders[1]
    target = slider._slider if inner else slider
    target.setFocus()
    changes = []
    group.valueChanged.connect(lambda index, value: changes.append((index, round(value, 6))))
    for key, expected in ((Qt.Key.Key_Right, 0.1), (Qt.Key.Key_Up, 0.2), (Qt.Key.Key_PageUp, 0.7),
                          (Qt.Key.Key_Left, 0.6), (Qt.Key.Key_PageDown, 0.1), (Qt.Key.Key_End, 3.0),
                          (Qt.Key.Key_PageUp, 3.0), (Qt.Key.Key_Home, -3.0), (Qt.Key.Key_Down, -3.0)):
        qtbot.keyClick(target, key)
        assert slider.value() == pytest.approx(expected), key
    assert changes[:3] == [(1, 0.1), (1, 0.2), (1, 0.7)]
    assert group.sliders[0].value() == 0.0  # the other slider did not move


def test_typing_in_the_value_box_still_edits_it(qtbot, group):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLineEdit

    slider = group.sliders[0]
    box = slider.findChild(QLineEdit)
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, "1.25")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert slider.value() == pytest.approx(1.25)
