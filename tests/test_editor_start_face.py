"""The editor's first face comes from the stored start face when it holds it: at once, the same to the bit as
the face computed the first time; the shipped model ships its start face.

Needs an X server: `bash scripts/run_tests.sh` runs these on Xvfb.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytestmark = pytest.mark.gui

QUALITY = 64
MESH_TIMEOUT_MS = 120_000


def first_full_face(qtbot, model_path, quality=QUALITY):
    """(the meshes shown until the first full-detail face, in order), on a new window."""
    from app.main_window import MainWindow

    win = MainWindow(model_path, quality=quality, interactive=False)
    qtbot.addWidget(win)
    shown = []
    win.meshShown.connect(shown.append)
    win.resize(640, 480)
    win.show()
    qtbot.waitUntil(lambda: any(dm.full_detail for dm in shown), timeout=MESH_TIMEOUT_MS)
    qtbot.waitUntil(win.is_ready, timeout=MESH_TIMEOUT_MS)
    win.close()
    return shown


def test_the_second_launch_shows_the_stored_face_at_once(qtbot, tiny_model_path, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = shutil.copy(tiny_model_path, tmp_path / "model.pt")
    computed = first_full_face(qtbot, model)
    assert computed[-1].seconds > 0 and len(computed) >= 2  # preview(s), then the face
    assert list((tmp_path / "cache").rglob("*.start_face.npz"))
    stored = first_full_face(qtbot, model)
    assert stored[0].full_detail and stored[0].stored  # the first mesh shown is the full face, read back
    assert not computed[-1].stored
    np.testing.assert_array_equal(stored[0].mesh.vertices, computed[-1].mesh.vertices)
    np.testing.assert_array_equal(stored[0].mesh.faces, computed[-1].mesh.faces)


def test_another_quality_computes_its_own_face(qtbot, tiny_model_path, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = shutil.copy(tiny_model_path, tmp_path / "model.pt")
    first_full_face(qtbot, model, quality=48)
    other = first_full_face(qtbot, model, quality=QUALITY)
    assert not other[-1].stored and not other[0].full_detail


def test_the_shipped_model_ships_its_start_face(qtbot, tmp_path, monkeypatch):
    """Fails when the model or the engine changed without `python scripts/store_start_face.py`."""
    from app.document import DEFAULT_QUALITY
    from imface_core.face_model import DEFAULT_MODEL

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # nothing cached: only the shipped file
    shown = first_full_face(qtbot, DEFAULT_MODEL, quality=DEFAULT_QUALITY)
    assert shown[0].full_detail and shown[0].stored, (
        "the shipped start face does not match the shipped model and engine: run scripts/store_start_face.py")


def test_the_stored_face_is_drawn_before_the_model_has_loaded(qtbot, tiny_model_path, tmp_path, monkeypatch):
    from app.main_window import MainWindow

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    model = shutil.copy(tiny_model_path, tmp_path / "model.pt")
    bare = MainWindow(model, quality=QUALITY, interactive=False)  # nothing stored yet: the placeholder
    qtbot.addWidget(bare)
    assert bare.editor is None and bare.viewport.face is None
    qtbot.waitUntil(bare.is_ready, timeout=MESH_TIMEOUT_MS)
    computed = bare.full_mesh.mesh
    bare.close()
    win = MainWindow(model, quality=QUALITY, interactive=False)
    qtbot.addWidget(win)
    assert win.editor is None  # the model is still loading on its thread
    drawn = win.viewport.face
    assert drawn is not None and drawn.n_points == len(computed.vertices)
    np.testing.assert_allclose(np.asarray(drawn.points), np.asarray(computed.vertices, dtype=np.float32))
    qtbot.waitUntil(win.is_ready, timeout=MESH_TIMEOUT_MS)
    np.testing.assert_array_equal(win.full_mesh.mesh.vertices, computed.vertices)
    assert "message" not in win.plotter.actors  # no loading line left over the face
    assert win.mesh_label.text().startswith("Last mesh: stored start face")
    win.close()
