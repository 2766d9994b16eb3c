"""The editor under faults: absurd sessions are refused, an empty mesh is an error (never an empty face), and an
exception no handler caught is logged and shown instead of lost.

Needs an X server (``bash scripts/run_tests.sh`` runs these on Xvfb). Reuses the window helpers of
``test_editor_window`` (a 64^3 face of the tiny model; $IMFACE_TEST_MODEL reuses a trained one).
"""

from __future__ import annotations

import json
import logging
import sys
import threading

import pytest
from PySide6.QtCore import QTimer

from imface_core.errors import CodesError
from editor_window_fixtures import MESH_TIMEOUT_MS, messages, model_path, open_window, wait_face, window  # noqa: F401

pytestmark = pytest.mark.gui


# ------------------------------------------------------------------------------------------------ sessions
def _corrupt(doc: dict, where: str, key: str, value) -> dict:
    out = json.loads(json.dumps(doc))
    if isinstance(out[where][key], list):
        out[where][key] = [value] * len(out[where][key])
    else:
        out[where][key] = value
    return out


def test_absurd_sessions_are_refused_and_a_good_one_opens_after(window, qtbot, messages, tmp_path):
    window.set_colour_mode("correspondence")
    wait_face(qtbot, window)
    good = tmp_path / "good.imface.json"
    assert window.save_session(good)
    doc = json.loads(good.read_text())
    doc["view"]["colour_mode"] = "plain"  # the bad sessions also change the view (an empty face then broke it)
    cases = {
        "sliders_1e30": (_corrupt(doc, "state", "id_coeffs", 1e30), "`id_coeffs`[0] is 1e+30"),
        "residual_1e30": (_corrupt(doc, "state", "exp_residual", 1e30), "z_exp"),
        "details_1e30": (_corrupt(doc, "state", "z_det", 1e30), "z_det"),
        "strength_1e30": (_corrupt(doc, "state", "detail_scale", 1e30), "`detail_scale` is 1e+30"),
        "mix_5": (_corrupt(doc, "state", "exp_mix", 5.0), "`exp_mix`[0] is 5"),
        "nan": (_corrupt(doc, "state", "exp_coeffs", float("nan")), "nan"),
        "codes_1e30": (_corrupt(doc, "codes", "z_id", 1e30), "z_id"),
    }
    cases["codes_1e30"][0]["state"]["id_residual"] = [0.0]  # another model's sizes: its codes are used (and checked)
    before_state, before_history = window.state, (window.history.can_undo, window.history.can_redo)
    shown = window.full_mesh
    for name, (bad_doc, words) in cases.items():
        bad = tmp_path / f"{name}.imface.json"
        bad.write_text(json.dumps(bad_doc))
        count = len(messages)
        assert window.open_session(bad) is False, name
        assert len(messages) == count + 1 and messages[-1][0] == "critical", (name, messages[-count:])
        title, text = messages[-1][1:]
        assert "session" in title.lower() and f"`{bad}`" in text and words in text, (name, text)
        assert window.state == before_state and window.full_mesh is shown  # nothing changed
        assert (window.history.can_undo, window.history.can_redo) == before_history
        assert window.colour_mode == "correspondence"
    # a good session opens after the refused ones, with its view (no empty-mesh error in the event loop)
    window.set_colour_mode("plain")
    assert window.open_session(good)
    wait_face(qtbot, window)
    assert window.full_mesh.n_vertices > 100 and window.colour_mode == "correspondence"
    assert window.statusBar().currentMessage() == "Ready"


def test_corrupted_sessions_through_the_window(window, qtbot, messages, tmp_path):
    """Some of ``test_fuzz_inputs``' corrupted sessions through File > Open session: a dialog naming the file, or
    a real face on screen ("Ready"), never an uncaught exception in the event loop."""
    from test_fuzz_inputs import corrupted_sessions

    good = tmp_path / "good.imface.json"
    assert window.save_session(good)
    for i, (kind, data) in enumerate(corrupted_sessions(good.read_text(), 24, seed=1)):
        path = tmp_path / f"fuzz_{i:02d}.imface.json"
        path.write_bytes(data)
        count = len(messages)
        if window.open_session(path):
            wait_face(qtbot, window)
            assert window.full_mesh.n_vertices > 100 and window.statusBar().currentMessage() == "Ready", kind
        else:
            assert len(messages) == count + 1 and f"`{path}`" in messages[-1][2], (kind, messages[count:])
    assert window.open_session(good)
    wait_face(qtbot, window)
    assert window.full_mesh.n_vertices > 100


def test_an_empty_mesh_is_reported_not_shown(qtbot, model_path, messages, monkeypatch):
    """Codes the model accepts but that give no surface: the last face stays, a dialog says why, never "Ready"."""
    import trimesh

    from app import engine

    empty = {"on": False}
    original = engine.MeshComputer.run

    def run(self, job, cancel):
        for dm in original(self, job, cancel):
            if empty["on"]:
                dm.mesh, dm.poly = trimesh.Trimesh(), engine.to_polydata(trimesh.Trimesh())
            yield dm

    monkeypatch.setattr(engine.MeshComputer, "run", run)
    win = open_window(qtbot, model_path)
    qtbot.waitUntil(win.is_ready, timeout=MESH_TIMEOUT_MS)
    face_points = win.viewport.face.n_points
    assert face_points > 100
    empty["on"] = True
    win.random_face()
    qtbot.waitUntil(win.is_ready, timeout=MESH_TIMEOUT_MS)
    assert messages and messages[-1][0] == "critical" and "no surface" in messages[-1][2], messages
    assert "no surface" in win.statusBar().currentMessage() and win.statusBar().currentMessage() != "Ready"
    assert win.viewport.face.n_points == face_points  # the last face stays on screen
    assert win.full_mesh is None or win.full_mesh.n_vertices > 0
    empty["on"] = False
    win.random_face()
    wait_face(qtbot, win)
    assert win.full_mesh.n_vertices > 100 and win.statusBar().currentMessage() == "Ready"


def test_the_viewport_refuses_an_empty_mesh_and_keeps_its_face(window):
    import pyvista

    before = window.viewport.face.n_points
    with pytest.raises(ValueError, match="empty face mesh"):
        window.viewport.set_face(pyvista.PolyData())
    assert window.viewport.face.n_points == before
    window.viewport.set_colour_mode("correspondence")  # rebuilding the actors still works
    window.viewport.set_colour_mode("plain")


def test_mesh_jobs_the_model_refuses_say_why(window, qtbot):
    """A job whose codes the model refuses (as a broken state would give) ends as an error, not a hang."""
    from app.engine import MeshJob

    codes = window.space.codes(window.state)
    job = MeshJob(window.state, codes.replace(z_id=codes.z_id + 1e6), window.quality)
    window.scheduler.submit_job(job)
    qtbot.waitUntil(window.is_ready, timeout=MESH_TIMEOUT_MS)
    assert "z_id" in window.last_error and "standard deviations" in window.last_error
    assert "CodesError" not in window.last_error  # a user's problem: its message, not a class name


# ------------------------------------------------------------------------------------------------ exception hook
@pytest.fixture
def reporter(monkeypatch):
    """The editor's exception hook as the process's hook for this test (pytest-qt's comes back after)."""
    from app.exception_hook import ExceptionReporter

    hook = ExceptionReporter()
    monkeypatch.setattr(sys, "excepthook", hook)
    return hook


def test_an_exception_in_a_slot_is_logged_and_shown(qtbot, messages, reporter, caplog):
    def broken_slot():
        raise RuntimeError("boom in a slot")

    with caplog.at_level(logging.ERROR, logger="imface_studio.uncaught"):
        QTimer.singleShot(0, broken_slot)
        qtbot.waitUntil(lambda: reporter.reported == 1, timeout=5000)
    assert messages[-1][:2] == ("critical", "Unexpected error")
    assert "RuntimeError: boom in a slot" in messages[-1][2] and "bug" in messages[-1][2]
    (record,) = [r for r in caplog.records if r.name == "imface_studio.uncaught"]
    assert record.exc_info[0] is RuntimeError and "broken_slot" in caplog.text  # the traceback is logged


def test_a_users_error_that_escapes_shows_its_own_message(qtbot, messages, reporter):
    def slot():
        raise CodesError("z_id has 3 values; this model's z_id has 20 values")

    QTimer.singleShot(0, slot)
    qtbot.waitUntil(lambda: reporter.reported == 1, timeout=5000)
    text = messages[-1][2]
    assert text.startswith("z_id has 3 values") and "bug" not in text and "CodesError" not in text


def test_the_hook_survives_a_failing_dialog_and_logs_other_threads(qtbot, reporter, monkeypatch, caplog):
    from PySide6.QtWidgets import QMessageBox

    from app.exception_hook import install_exception_hook

    def broken_dialog(*args, **kwargs):
        raise RuntimeError("no display")

    monkeypatch.setattr(QMessageBox, "critical", broken_dialog)
    try:
        raise ValueError("first")
    except ValueError:
        reporter(*sys.exc_info())  # does not raise
    assert reporter.reported == 1 and "could not show the error dialog" in caplog.text
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    hook = install_exception_hook(interactive=False)
    assert sys.excepthook is hook and threading.excepthook == hook.thread_hook
    worker = threading.Thread(target=lambda: 1 / 0, name="doomed")
    worker.start()
    worker.join()
    assert hook.reported == 1 and "ZeroDivisionError" in hook.last_message
    assert "uncaught exception in thread doomed" in caplog.text


# ------------------------------------------------------------------------------------------------ main.py
def test_main_says_a_folder_is_not_a_model_file(tmp_path):
    from test_app_shell import run_main

    result = run_main("--model", str(tmp_path), timeout=60)
    assert result.returncode == 2 and "is a folder, not a model file" in result.stderr, result.stderr
