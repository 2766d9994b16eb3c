"""The editor's labels and controls on a real window (issue 20 item 6): words instead of statistics,
"Start face" that goes back to the start, named expressions from -0.5 to 2, the person picker marked
"edited", and the named face-shape sliders.

Needs an X server: `bash scripts/run_tests.sh` runs these on Xvfb. Meshes at a 64 grid (tiny model).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from PySide6.QtWidgets import QGroupBox, QLabel, QWidget

from editor_window_fixtures import (MESH_TIMEOUT_MS, mesh_distance, messages, model_path, open_window,  # noqa: F401
                                    vertices, wait_face, window)

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("messages")]  # message boxes recorded, not shown


def texts_on_panels(win) -> list[str]:
    """Every label, group title and tooltip of the three panels."""
    out = []
    for panel in (win.identity_panel, win.expression_panel, win.detail_panel):
        for widget in [panel, *panel.findChildren(QWidget)]:
            out.append(widget.toolTip())
            if isinstance(widget, QLabel):
                out.append(widget.text())
            if isinstance(widget, QGroupBox):
                out.append(widget.title())
    return [t for t in out if t]


def row_labels(group) -> list[str]:
    return [group.layout().labelForField(s).text() for s in group.sliders]


def test_labels_and_tooltips_speak_in_words(window):
    ip, ep = window.identity_panel, window.expression_panel
    assert row_labels(ip.sliders) == [f"Variation {i + 1}" for i in range(window.space.n_identity)]
    assert row_labels(ep.sliders) == [f"Variation {i + 1}" for i in range(window.space.n_expression)]
    texts = texts_on_panels(window)
    for bad in (r"\bPC\b", "sigma", "\N{GREEK SMALL LETTER SIGMA}", "Training identity", "mean identity"):
        assert not [t for t in texts if re.search(bad, t)], bad
    assert ep.sliders.sliders[2].toolTip().startswith(
        "Moves the expression along the 3rd most common way the training expressions differ")
    assert ip.sliders.sliders[0].toolTip().startswith("Moves the face along the most common way the training faces")
    window.tabs.setCurrentWidget(ep)
    assert "add to the variations below" in ep.explanation.text() and ep.explanation.isVisible()
    assert "Expression variations" in texts and "Named expressions" in texts and "Face shape" in texts


def test_start_face_goes_back_to_the_start_with_the_start_sliders(window, qtbot):
    start, start_mesh = window.state, vertices(window)
    start_sliders = window.identity_panel.sliders.values()
    button = window.identity_panel.reset_button
    assert button.text() == "Start face" and window.space.start_label in button.toolTip()
    window.identity_panel.sliders.sliders[0].setValue(start.id_coeffs[0] + 1.0)
    window.pick_identity(len(window.editor.identities) - 1)
    window.identity_panel.random_button.click()
    wait_face(qtbot, window)
    assert window.state.id_coeffs != start.id_coeffs and mesh_distance(vertices(window), start_mesh) > 1e-3
    button.click()
    assert window.state == start  # the expression was neutral all along: the whole face is the start face
    assert window.identity_panel.sliders.values() == start_sliders
    assert window.identity_panel.picker.currentText() == window.space.start_label
    assert window.identity_panel.label.text() == f"Current: {window.space.start_label}"
    wait_face(qtbot, window)
    assert mesh_distance(vertices(window), start_mesh) < 1e-5


def test_named_expressions_run_from_minus_half_to_two(window, qtbot):
    slider = window.expression_panel.mix.sliders[0]
    assert (slider.minimum(), slider.maximum()) == (-0.5, 2.0)
    meshes = {}
    for value in (1.0, 2.0, -0.5):
        slider.setValue(value)
        assert window.state.exp_mix[0] == value
        wait_face(qtbot, window)
        meshes[value] = vertices(window)
    assert mesh_distance(meshes[2.0], meshes[1.0]) > 1e-3 and mesh_distance(meshes[-0.5], meshes[1.0]) > 1e-3


def test_the_person_picker_says_edited_while_the_sliders_are_away(window, qtbot):
    panel = window.identity_panel
    name = window.editor.identities[1]
    window.pick_identity(1)
    assert panel.picker.currentText() == name and panel.label.text() == f"Current: {name}"
    slider = panel.sliders.sliders[0]
    before = slider.value()
    slider.setValue(before + 0.5)
    assert panel.picker.currentText() == f"{name} (edited)"
    qtbot.waitUntil(lambda: panel.label.text() == f"Current: {name} (edited)", timeout=5000)  # the panel's line too
    assert panel.picker.itemText(1) == window.editor.identities[0]  # the other names are untouched
    slider.setValue(before)
    assert panel.picker.currentText() == name
    edited = window.state.with_id_coeff(1, window.state.id_coeffs[1] - 0.3)
    window.set_state(edited)  # states set from outside (undo, sessions) are marked too
    assert panel.picker.currentText() == f"{name} (edited)" and panel.sliders.values()[1] == edited.id_coeffs[1]
    window.pick_identity(1)
    assert panel.picker.currentText() == name


def test_the_face_shape_group_names_what_it_does_not_offer(window):
    space, panel = window.space, window.identity_panel
    assert space.measured_axes  # the tiny model has three people: enough for a (poor) regression
    assert row_labels(panel.shape) == [a.name for a in space.identity_axes]
    missing = [a.name.lower() for a in space.measured_axes if not a.steady]
    box = next(b for b in panel.findChildren(QGroupBox) if b.title() == "Face shape")
    for name in missing:
        assert name in box.toolTip()
    notes = [label.text() for label in box.findChildren(QLabel) if label.text().startswith("Not offered")]
    assert bool(notes) == (not space.identity_axes)


@pytest.fixture
def shipped_window(qtbot):
    from imface_core.face_model import DEFAULT_MODEL

    win = open_window(qtbot, DEFAULT_MODEL)
    qtbot.waitUntil(win.is_ready, timeout=MESH_TIMEOUT_MS)
    assert win.editor is not None and win.full_mesh is not None
    return win


def test_a_face_shape_slider_moves_the_variations_and_the_face(shipped_window, qtbot):
    window = shipped_window
    panel = window.identity_panel
    axes = window.space.identity_axes
    assert "Face width" in row_labels(panel.shape)
    tip = panel.shape.sliders[0].toolTip()
    assert re.search(r"explains \d+% of how their face width varies", tip) and "mm" in tip, tip
    box = next(b for b in panel.findChildren(QGroupBox) if b.title() == "Face shape")
    assert "Not offered: " in box.toolTip() and "nose length" in box.toolTip()
    start_mesh, start_coeffs = vertices(window), window.state.id_coeffs
    shape = panel.shape.sliders[0]
    assert shape.value() == pytest.approx(window.space.axis_values(start_coeffs)[0], abs=0.01)
    target = 1.5
    shape.setValue(target)
    moved = window.state.id_coeffs
    assert moved != start_coeffs and moved == panel.sliders.values()
    assert window.space.axis_values(moved)[0] == pytest.approx(target, abs=0.03)
    k = len(axes[0].direction)
    expected = np.clip(np.round(np.asarray(start_coeffs[:k])
                                + (target - window.space.axis_values(start_coeffs)[0]) * axes[0].direction, 2), -3, 3)
    np.testing.assert_allclose(moved[:k], expected, atol=1e-9)
    assert moved[k:] == start_coeffs[k:]
    assert panel.picker.currentText() == f"{window.space.start_label} (edited)"
    wait_face(qtbot, window)
    assert mesh_distance(vertices(window), start_mesh) > 1e-3  # (how much wider: test_identity_axes)
