"""The face shown for a state is a function of the state, not of the edits that led to it (issue 20 item 3).

A real window on Xvfb (`bash scripts/run_tests.sh` runs it there) with the tiny model at a 64 grid: the same
state (start face, Neutral, a named expression at 1.0) reached by several histories must give the same
full-detail mesh to the bit, and the exported file must hold that mesh.
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from editor_window_fixtures import MESH_TIMEOUT_MS, QUALITY, model_path  # noqa: F401

pytestmark = pytest.mark.gui


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture
def window(qtbot, model_path):
    from app.main_window import MainWindow

    win = MainWindow(model_path, quality=QUALITY, interactive=False)  # errors to the status bar, no dialogs
    qtbot.addWidget(win)
    win.resize(720, 480)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(win.is_ready, timeout=MESH_TIMEOUT_MS)
    assert win.editor is not None, win.last_error
    return win


def wait_face(qtbot, win) -> None:
    """Until the full-detail mesh of the current state is on screen."""
    qtbot.waitUntil(lambda: win.is_ready() and win.full_mesh.job.state == win.state, timeout=MESH_TIMEOUT_MS)


def full_arrays(win) -> tuple[np.ndarray, np.ndarray]:
    mesh = win.full_mesh.mesh
    return np.asarray(mesh.vertices).copy(), np.asarray(mesh.faces).copy()


def expression_slider(win):
    names = list(win.space.expression_names)
    return win.expression_panel.mix.sliders[names.index("smile") if "smile" in names else 0]


# ------------------------------------------------------------------------------------------------ tests
def test_same_state_via_different_histories_gives_the_same_mesh_and_export(window, qtbot, tmp_path):
    from imface_core.engine.export import MM_PER_UNIT

    panel, slider, start = window.expression_panel, expression_slider(window), window.state

    # 1. Neutral, then the expression at once (the jump's mesh not back yet: the mesher starts afresh)
    panel.neutral_button.click()
    slider.setValue(1.0)
    assert window.scheduler.latest_job.fresh
    wait_face(qtbot, window)
    target = window.state
    at_once = full_arrays(window)

    # 2. back to the start face; Neutral, wait, then the expression (the mesher follows the neutral surface)
    window.document.set_state(start)
    wait_face(qtbot, window)
    panel.neutral_button.click()
    wait_face(qtbot, window)
    slider.setValue(1.0)
    assert not window.scheduler.latest_job.fresh
    wait_face(qtbot, window)
    assert window.state == target
    waited = full_arrays(window)

    # 3. a drag to the expression through another value (template previews), released there
    slider.setValue(0.0)
    wait_face(qtbot, window)
    slider.setSliderDown(True)
    for value in (0.3, 0.7, 1.2 if slider.maximum() > 1.0 else 0.9, 1.0):
        slider.setValue(value)
        qtbot.wait(30)
    slider.setSliderDown(False)
    wait_face(qtbot, window)
    assert window.state == target
    dragged = full_arrays(window)

    for other in (waited, dragged):
        np.testing.assert_array_equal(other[1], at_once[1])
        np.testing.assert_array_equal(other[0], at_once[0])  # the same vertices to the bit

    # exported = shown: the file holds the full-detail mesh on screen, in millimetres
    path = tmp_path / "face.ply"
    with qtbot.waitSignal(window.exportFinished, timeout=60_000):
        window.export_mesh(path)
    loaded = trimesh.load(path, process=False)
    np.testing.assert_array_equal(np.asarray(loaded.faces), at_once[1])
    in_mm = (at_once[0].astype(np.float64) * MM_PER_UNIT).astype(np.float32)  # binary PLY holds float32
    np.testing.assert_array_equal(np.asarray(loaded.vertices, dtype=np.float32), in_mm)
    drawn = window.viewport.face  # below the display budget the viewport draws that same mesh
    np.testing.assert_array_equal(np.asarray(drawn.points), at_once[0].astype(np.float32))
