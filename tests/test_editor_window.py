"""The editor window on a real (tiny) model: the face appears, sliders drive it, export, fitting, undo, bad input.

Needs an X server: `bash scripts/run_tests.sh` runs these on Xvfb (pytest-xvfb, QT_QPA_PLATFORM=xcb).
Meshes are computed at a 64 grid and fits take a few steps, to keep the file quick.
$IMFACE_TEST_MODEL / $IMFACE_TEST_SCANS reuse a trained tiny model (``editor_window_fixtures``).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import trimesh
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QPushButton

from editor_window_fixtures import (MESH_TIMEOUT_MS, QUALITY, mesh_distance, messages, model_path,  # noqa: F401
                                    open_window, scan_path, vertices, wait_face, window)

pytestmark = pytest.mark.gui


# ------------------------------------------------------------------------------------------------ fixtures

def skin_fraction(rgb: np.ndarray) -> float:
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    return float(np.mean((r > 120) & (r > g + 15) & (g > b + 5)))


def assert_usable(qtbot, win) -> None:
    """The window still edits: a slider move gives a new full-detail face."""
    slider = win.identity_panel.sliders.sliders[0]
    slider.setValue(0.5 if abs(slider.value() - 0.5) > 0.2 else -0.5)
    wait_face(qtbot, win)
    assert win.isVisible()


# ------------------------------------------------------------------------------------------------ tests
def test_window_opens_and_shows_the_face(window):
    assert window.windowTitle().endswith(window.editor.name)
    assert [a.text() for a in window.menuBar().actions()] == ["&File", "&Edit", "&View", "&Help"]
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["Identity", "Expression", "Detail", "Regions"]
    view = window.viewport.rgb_image()
    widget = window.plotter.interactor
    ratio = widget.devicePixelRatioF()
    assert view.shape[:2] == (round(widget.height() * ratio), round(widget.width() * ratio))
    assert view[..., :3].std() > 10.0
    assert skin_fraction(view) > 0.03, "the 3D view does not show the face"
    assert window.statusBar().currentMessage() == "Ready"
    assert "vertices" in window.mesh_label.text()
    assert window.full_mesh.n_vertices > 500


def test_expression_slider_changes_the_mesh(window, qtbot):
    before = vertices(window)
    slider = window.expression_panel.mix.sliders[0]
    slider.setValue(1.0)
    assert window.state.exp_mix[0] == 1.0
    wait_face(qtbot, window)
    after = vertices(window)
    assert mesh_distance(before, after) > 1e-4, "the face did not change"


def test_burst_of_slider_changes_ends_on_the_final_value(window, qtbot, model_path):
    from imface_core import FaceModel

    shown_ids: list[int] = []
    stages: list[str] = []
    window.meshShown.connect(lambda dm: (shown_ids.append(dm.job_id), stages.append(dm.stage)))
    slider = window.expression_panel.sliders.sliders[0]
    values = list(np.round(np.linspace(-2.5, 2.5, 99), 2)) + [1.37]
    slider.setSliderDown(True)  # a drag: previews only while the button is down
    for i, value in enumerate(values):
        slider.setValue(float(value))
        if i % 5 == 0:
            qtbot.wait(3)
    slider.setSliderDown(False)
    wait_face(qtbot, window)

    assert window.state.exp_coeffs[0] == 1.37
    assert window.full_mesh.job.state.exp_coeffs[0] == 1.37
    assert shown_ids == sorted(shown_ids), "a mesh older than one shown appeared"
    assert "preview" in stages and stages[-1] == "final", stages  # coarse previews while dragging, then full
    stats = window.scheduler.worker.stats
    assert stats.dropped + stats.superseded > 50, stats  # stale requests were dropped, not computed
    assert stats.finished + stats.superseded + stats.failed < 60, stats

    # the mesh on screen is the model's mesh of the final slider value
    model = FaceModel.load(model_path, device="cpu")
    codes = window.space.codes(window.state)
    expected = model.mesh(codes, resolution=QUALITY, method="displace")
    assert mesh_distance(vertices(window), np.asarray(expected.vertices)) < 1e-4


def test_undo_redo_restore_sliders_and_mesh(window, qtbot):
    assert window.undo_action.shortcut() == QKeySequence("Ctrl+Z")
    assert QKeySequence("Ctrl+Shift+Z") in window.redo_action.shortcuts()
    mesh0 = vertices(window)
    slider = window.expression_panel.mix.sliders[-1]
    slider.setSliderDown(True)
    for value in (0.2, 0.5, 0.8):
        slider.setValue(value)
    slider.setSliderDown(False)  # one drag = one undo step
    wait_face(qtbot, window)
    mesh1 = vertices(window)
    assert mesh_distance(mesh0, mesh1) > 1e-4

    window.activateWindow()
    window.setFocus()
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    if slider.value() != 0.0:  # no window manager under Xvfb: the shortcut may not reach us; use the action
        window.undo_action.trigger()
    assert slider.value() == 0.0 and window.state.exp_mix[-1] == 0.0
    wait_face(qtbot, window)
    assert mesh_distance(vertices(window), mesh0) < 1e-5

    window.redo_action.trigger()
    assert slider.value() == 0.8
    wait_face(qtbot, window)
    assert mesh_distance(vertices(window), mesh1) < 1e-5
    assert not window.redo_action.isEnabled() and window.undo_action.isEnabled()


def test_export_writes_files_that_load_back(window, qtbot, tmp_path):
    n = window.full_mesh.n_vertices
    bounds = np.ptp(vertices(window), axis=0)
    for name, colors in (("face.obj", False), ("face.ply", True)):
        with qtbot.waitSignal(window.exportFinished, timeout=60_000) as blocker:
            window.export_mesh(tmp_path / name, colors=colors)
        assert blocker.args == [str(tmp_path / name)]
        loaded = trimesh.load(tmp_path / name, process=False)
        assert len(loaded.vertices) == n
        np.testing.assert_allclose(np.ptp(loaded.vertices, axis=0), bounds * 100.0, rtol=1e-3)  # millimetres
        assert (loaded.visual.kind == "vertex") == colors


def test_load_scan_fits_and_shows_the_error_map(window, qtbot, scan_path):
    start = window.state
    with qtbot.waitSignal(window.fitFinished, timeout=180_000) as blocker:
        window.load_scan(scan_path)
        assert window.fit_dialog is not None and window.fit_dialog.isVisible()
    assert blocker.args == ["done"]
    assert window.fit_dialog is None
    assert window.state != start and window.state.label == f"fit: {scan_path.name}"
    assert window.colour_mode == "error" and window.viewport.has_scan
    assert "fit error (mm)" in window.plotter.scalar_bars
    assert np.isfinite(window.fit.errors_mm).any()
    wait_face(qtbot, window)
    assert window.viewport.rgb_image()[..., :3].std() > 10.0
    sources = [window.detail_panel.source.itemText(i) for i in range(window.detail_panel.source.count())]
    assert sources[-1] == f"fit: {scan_path.name}"

    window.set_scan_mode("beside")  # the other view modes draw without error
    window.set_colour_mode("correspondence")
    wait_face(qtbot, window)
    assert "rgb" in window.viewport.face.point_data


def test_cancel_stops_the_fit_and_keeps_the_face(qtbot, model_path, scan_path, messages):
    from app.engine import FitOptions

    win = open_window(qtbot, model_path, fit_options=FitOptions(steps=100_000, sample_points=3000))
    qtbot.waitUntil(win.is_ready, timeout=MESH_TIMEOUT_MS)
    start = win.state
    with qtbot.waitSignal(win.fitFinished, timeout=180_000) as blocker:
        win.load_scan(scan_path)
        # cancel once the fit is under way (past loading and aligning the scan)
        qtbot.waitUntil(lambda: win.fit_phase not in (None, "load", "align"), timeout=120_000)
        win.fit_dialog.findChild(QPushButton).click()  # the dialog's Cancel button
    assert blocker.args == ["cancelled"]
    assert win.fit_dialog is None and win.state == start and win.fit is None and not messages
    assert_usable(qtbot, win)


def test_undo_restores_the_face_after_a_discrete_edit(window, qtbot):
    mesh0, state0 = vertices(window), window.state
    window.identity_panel.random_button.click()
    wait_face(qtbot, window)
    assert window.state != state0
    window.undo()
    wait_face(qtbot, window)
    assert window.state == state0
    assert mesh_distance(vertices(window), mesh0) < 1e-5


def test_session_round_trip_and_detail_transfer(window, qtbot, tmp_path):
    window.pick_identity(1)
    window.expression_panel.mix.sliders[0].setValue(0.6)
    window.detail_panel.strength.sliders[0].setValue(1.4)
    wait_face(qtbot, window)
    saved = window.state
    assert window.save_session(tmp_path / "s.imface.json")
    window.reset_identity()
    window.neutral_expression()
    assert window.state != saved
    assert window.open_session(tmp_path / "s.imface.json")
    assert window.state == saved
    assert window.identity_panel.picker.currentText() == window.editor.identities[1]
    assert window.detail_panel.strength.values() == (1.4,)
    wait_face(qtbot, window)
    assert [k for k, _ in window.recent.entries()] == ["session"]

    window.transfer_details(0)
    assert np.allclose(window.state.z_det, window.editor.training_codes(0).z_det)
    assert window.detail_panel.compare.isChecked() and "before" in window.plotter.actors
    window.set_landmarks_visible(True)
    wait_face(qtbot, window)
    assert "landmarks" in window.plotter.actors


# ------------------------------------------------------------------------------------------------ bad input
def test_bad_scans_show_a_message_and_keep_the_face(window, qtbot, messages, tmp_path):
    garbage = tmp_path / "garbage.ply"
    garbage.write_bytes(b"ply\nformat nonsense\n" + bytes(range(256)) * 20)
    empty = tmp_path / "empty.obj"
    empty.write_bytes(b"")
    tiny = tmp_path / "few_points.xyz"
    tiny.write_text("\n".join(f"{i} {i % 7} {i % 3}" for i in range(30)))
    state = window.state
    for path in (garbage, empty, tiny, tmp_path / "missing.ply"):
        with qtbot.waitSignal(window.fitFinished, timeout=60_000) as blocker:
            window.load_scan(path)
        assert blocker.args == ["failed"]
        kind, title, text = messages[-1]
        assert kind == "critical" and "fit" in title and path.name in text
    assert len(messages) == 4 and window.state == state and window.fit is None
    assert_usable(qtbot, window)


def test_corrupt_session_shows_a_message(window, qtbot, messages, tmp_path):
    state = window.state
    bad = tmp_path / "bad.imface.json"
    for content in (b"{not json", b'{"kind": "imface-studio-session", "version": 1}', bytes(range(256))):
        bad.write_bytes(content)
        assert not window.open_session(bad)
        assert messages[-1][0] == "critical" and "session" in messages[-1][1].lower()
    assert window.state == state and len(messages) == 3
    assert_usable(qtbot, window)


def test_unwritable_export_path_shows_a_message(window, qtbot, messages, tmp_path):
    blocker_file = tmp_path / "a_file"
    blocker_file.write_text("not a folder")
    for path in (blocker_file / "face.obj", tmp_path / "face.stl"):
        with qtbot.waitSignal(window.exportFinished, timeout=60_000) as blocker:
            window.export_mesh(path)
        assert blocker.args == [""]
        assert messages[-1][0] == "critical" and "export" in messages[-1][1].lower()
    assert len(messages) == 2 and not (tmp_path / "face.stl").exists()
    assert_usable(qtbot, window)
    assert window.save_session(blocker_file / "s.imface.json") is False  # unwritable session: a message too
    assert len(messages) == 3


def test_a_model_that_is_not_ours_shows_a_message(window, qtbot, messages, tmp_path):
    editor = window.editor
    for name, content in (("random.pt", os.urandom(4096)), ("empty.pt", b""), ("text.pt", b"hello")):
        path = tmp_path / name
        path.write_bytes(content)
        with qtbot.waitSignal(window.modelFailed, timeout=60_000):
            window.open_model(path)
        assert messages[-1][0] == "critical" and name in messages[-1][2]
    assert window.editor is editor and len(messages) == 3  # the loaded model and face stay
    assert_usable(qtbot, window)


def test_starting_on_a_foreign_model_shows_a_message(qtbot, messages, tmp_path):
    path = tmp_path / "other.pt"
    path.write_bytes(os.urandom(1000))
    from app.main_window import MainWindow

    win = MainWindow(path, quality=QUALITY)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(lambda: win.model_error is not None, timeout=60_000)
    assert messages and messages[-1][0] == "critical"
    assert win.editor is None and win.is_ready() and not win.load_scan_action.isEnabled()


def test_opening_another_model_replaces_the_face(window, qtbot, model_path, tmp_path):
    import shutil

    other = tmp_path / "other_model.pt"
    shutil.copy(model_path, other)
    window.expression_panel.mix.sliders[0].setValue(0.7)
    with qtbot.waitSignal(window.modelLoaded, timeout=60_000):
        window.open_model(other)
    assert window.windowTitle().endswith("other_model.pt")
    assert window.state == window.space.initial_state() and not window.undo_action.isEnabled()
    wait_face(qtbot, window)
    assert window.full_mesh.job.state == window.state
