"""File > Export rig on a real window: the current person as a glTF rig with one morph target per named
expression, and Cancel leaves no file.

Needs an X server: `bash scripts/run_tests.sh` runs these on Xvfb.
"""

from __future__ import annotations

import pytest

from imface_core.engine.navigation import LatentNavigator
from imface_core.engine.rig import base_expression, read_glb

pytestmark = pytest.mark.gui

TIMEOUT_MS = 180_000


@pytest.fixture
def window(qtbot, tiny_model_path):
    from app.main_window import MainWindow

    win = MainWindow(tiny_model_path, quality=64, interactive=False)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitUntil(win.is_ready, timeout=TIMEOUT_MS)
    return win


def test_export_rig_writes_the_person_with_every_named_expression(window, qtbot, tmp_path, tiny_model):
    window.pick_identity(1)
    path = tmp_path / "person.glb"
    assert window.export_rig_action.isEnabled()
    with qtbot.waitSignal(window.rig_export.finished, timeout=TIMEOUT_MS) as done:
        window.rig_export.start(path)
    assert done.args == [str(path)] and path.is_file()
    gltf, _ = read_glb(path.read_bytes())
    base = base_expression(tiny_model)
    names = [n for n in LatentNavigator(tiny_model).expression_presets() if n != base]
    mesh = gltf["meshes"][0]
    assert mesh["extras"]["targetNames"] == names and len(mesh["primitives"][0]["targets"]) == len(names)
    count = gltf["accessors"][mesh["primitives"][0]["attributes"]["POSITION"]]["count"]
    assert count == len(tiny_model.mesh(tiny_model.codes(1, 0), topology="template").vertices)
    assert gltf["asset"]["extras"]["source"]["face"] == window.state.label


def test_a_cancelled_rig_export_writes_nothing(window, qtbot, tmp_path):
    path = tmp_path / "cancelled.glb"
    with qtbot.waitSignal(window.rig_export.finished, timeout=TIMEOUT_MS) as done:
        window.rig_export.start(path)
        window.rig_export.cancel()
    assert done.args == [""] and not path.exists()
    assert "cancelled" in window.statusBar().currentMessage() and window.rig_export.task is None
