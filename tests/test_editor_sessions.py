"""The editor's documents on a real (tiny) model: title and modified marker, the unsaved-changes prompt, sessions
that keep the fit (overlay and error map back without fitting), recent entries pruned on error, Help > Guide.

Needs an X server: `bash scripts/run_tests.sh` runs these on Xvfb. Message boxes and file dialogs are recorded
and answered by the tests (monkeypatch) instead of shown.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from editor_window_fixtures import MESH_TIMEOUT_MS, Button, messages, model_path, scan_path, wait_face  # noqa: F401
from editor_window_fixtures import open_window as open_shown_window

pytestmark = pytest.mark.gui

DASH = "\N{EM DASH}"


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture
def save_dialog(monkeypatch):
    """File > Save session as: answered with ``save_dialog.path`` (None: cancelled); ``calls`` counts it."""

    class Answer:
        path: Path | None = None
        calls = 0
        suggested = ""

    def ask(parent, caption, suggested, *args, **kwargs):
        Answer.calls += 1
        Answer.suggested = suggested
        return (str(Answer.path) if Answer.path else "", "")

    monkeypatch.setattr(QFileDialog, "getSaveFileName", ask)
    return Answer


def open_window(qtbot, model_path):
    """A window on ``model_path`` with its first face on screen."""
    win = open_shown_window(qtbot, model_path)
    qtbot.waitUntil(win.is_ready, timeout=MESH_TIMEOUT_MS)
    assert win.editor is not None
    return win


@pytest.fixture
def window(qtbot, model_path, messages):
    return open_window(qtbot, model_path)


def move_a_slider(win, value: float = 0.8) -> None:
    win.identity_panel.sliders.sliders[0].setValue(value)
    win.document.flush()


def questions(messages) -> list[tuple[str, str, str]]:
    return [m for m in messages if m[0] == "question"]


# ------------------------------------------------------------------------------------------------ title
def test_title_names_the_session_and_marks_unsaved_changes(window, qtbot, save_dialog, tmp_path):
    name = window.editor.name
    assert window.windowTitle() == f"Untitled[*] {DASH} ImFace Studio {DASH} {name}"
    assert not window.isWindowModified()
    move_a_slider(window)
    assert window.isWindowModified()
    window.undo()  # back to the face the document started with: nothing to save
    assert not window.isWindowModified()
    window.redo()
    assert window.isWindowModified()

    assert window.save_session(tmp_path / "portrait.imface.json")
    assert window.windowTitle() == f"portrait[*] {DASH} ImFace Studio {DASH} {name}"
    assert not window.isWindowModified()
    window.neutral_expression()
    window.random_face()
    assert window.isWindowModified()
    window.save_session_action.trigger()  # Ctrl+S: to the session's own file, no dialog
    assert save_dialog.calls == 0 and not window.isWindowModified()
    saved = json.loads((tmp_path / "portrait.imface.json").read_text())
    assert saved["state"] == window.state.to_dict()


def test_save_as_suggests_the_open_session_or_the_faces_name(window, qtbot, save_dialog, tmp_path):
    window.pick_identity(1)
    window.save_session_as_action.trigger()
    assert Path(save_dialog.suggested).name == f"{window.editor.identities[1]}.imface.json"  # not always face.*
    assert window.save_session(tmp_path / "portrait.imface.json")
    window.save_session_as_action.trigger()
    assert Path(save_dialog.suggested) == tmp_path / "portrait.imface.json"


# ------------------------------------------------------------------------------------------------ the prompt
def test_close_asks_to_save_and_cancel_keeps_the_window(window, qtbot, messages, save_dialog, tmp_path):
    move_a_slider(window)
    messages.answers = [Button.Cancel]
    assert not window.close()
    assert window.isVisible() and window.isWindowModified()
    (kind, title, text), = questions(messages)
    assert title == "Unsaved changes" and "Untitled" in text and "closing" in text

    save_dialog.path = tmp_path / "before_closing.imface.json"
    messages.answers = [Button.Save]
    edited = window.state
    assert window.close()  # saved through the file dialog, then closed
    assert save_dialog.calls == 1 and not window.isVisible()
    saved = json.loads(save_dialog.path.read_text())
    assert saved["state"] == edited.to_dict()


def test_close_with_a_cancelled_save_stays_open(window, qtbot, messages, save_dialog):
    move_a_slider(window)
    save_dialog.path = None  # Save, then Cancel in the file dialog: nothing is lost
    messages.answers = [Button.Save]
    assert not window.close()
    assert window.isVisible() and window.isWindowModified()


def test_opening_a_session_or_model_asks_first(window, qtbot, messages, model_path, tmp_path):
    session = tmp_path / "first.imface.json"
    assert window.save_session(session)
    saved = window.state
    move_a_slider(window)
    edited = window.state

    messages.answers = [Button.Cancel]
    assert window.open_session(session) is False
    assert window.state == edited and window.isWindowModified()
    assert "opening first.imface.json" in questions(messages)[-1][2]

    messages.answers = [Button.Discard]
    assert window.open_session(session)
    assert window.state == saved and not window.isWindowModified()
    assert window.windowTitle().startswith("first[*]")
    assert len(questions(messages)) == 2

    move_a_slider(window, -0.6)
    other = tmp_path / "other_model.pt"
    shutil.copy(model_path, other)
    editor = window.editor
    messages.answers = [Button.Cancel]
    window.open_model(other)
    assert "opening other_model.pt" in questions(messages)[-1][2]
    wait_face(qtbot, window)
    assert window.editor is editor and window.isWindowModified()

    messages.answers = [Button.Discard]
    with qtbot.waitSignal(window.modelLoaded, timeout=60_000):
        window.open_model(other)
    assert window.windowTitle() == f"Untitled[*] {DASH} ImFace Studio {DASH} other_model.pt"
    assert not window.isWindowModified() and len(questions(messages)) == 4


def test_an_unchanged_document_closes_without_asking(window, messages):
    window.set_colour_mode("correspondence")  # a view setting is not a change of the face
    assert window.close() and not questions(messages)


# ------------------------------------------------------------------------------------------------ sessions with a fit
def test_a_session_keeps_the_fit_and_reopens_it_without_fitting(window, qtbot, messages, model_path, scan_path,
                                                                tmp_path):
    scan = tmp_path / "scans" / scan_path.name
    scan.parent.mkdir()
    shutil.copy(scan_path, scan)
    with qtbot.waitSignal(window.fitFinished, timeout=180_000) as blocker:
        window.load_scan(scan)
    assert blocker.args == ["done"]
    wait_face(qtbot, window)
    fit = window.fit
    assert window.isWindowModified()
    session = tmp_path / "fitted.imface.json"
    assert window.save_session(session)
    doc = json.loads(session.read_text())
    assert doc["version"] == 3 and doc["fit"]["scan"]["path"] == str(scan.resolve())
    assert doc["fit"]["scan"]["sha256"] == __import__("hashlib").sha256(scan.read_bytes()).hexdigest()

    fresh = open_window(qtbot, model_path)
    fits_started = []
    fresh.scan_fit.finished.connect(fits_started.append)
    assert fresh.open_session(session)
    assert fresh.scan_fit.task is None and fresh.fit_dialog is None and not fits_started  # no fit ran
    assert fresh.state == window.state and fresh.fit is not None
    assert fresh.viewport.has_scan and fresh.colour_mode == "error"
    assert "fit error (mm)" in fresh.plotter.scalar_bars
    np.testing.assert_array_equal(fresh.fit.errors_mm, fit.errors_mm)
    np.testing.assert_allclose(fresh.fit.scan_vertices, fit.scan_vertices, atol=1e-6)
    for name in ("rotation", "translation", "scale"):
        np.testing.assert_allclose(getattr(fresh.fit.alignment, name), getattr(fit.alignment, name))
    assert fresh.fit.stats == pytest.approx(fit.stats)
    sources = [fresh.detail_panel.source.itemText(i) for i in range(fresh.detail_panel.source.count())]
    assert sources[-1] == f"fit: {scan.name}"
    assert not fresh.isWindowModified() and not [m for m in messages if m[0] != "question"]

    # the scan changed, or moved: the session opens without the overlay, and says why
    with scan.open("ab") as f:
        f.write(b"\n")
    for words in ("changed since it was fitted", "is no longer at"):
        if words == "is no longer at":
            scan.rename(tmp_path / scan.name)
        other = open_window(qtbot, model_path)
        assert other.open_session(session)
        kind, title, text = messages[-1]
        assert kind == "warning" and "without its scan" in title and scan.name in text and words in text
        assert other.state == window.state and other.fit is None and not other.viewport.has_scan
        assert other.colour_mode != "error"
        wait_face(qtbot, other)
        other.close()


def test_an_old_session_without_a_fit_still_opens(window, qtbot, tmp_path):
    path = tmp_path / "old.imface.json"
    move_a_slider(window, 0.4)
    assert window.save_session(path)
    saved = window.state
    doc = json.loads(path.read_text())
    assert "fit" not in doc
    doc["version"] = 1
    path.write_text(json.dumps(doc))
    window.reset_identity()
    assert window.open_session(path) and window.state == saved


# ------------------------------------------------------------------------------------------------ recent files
def test_recent_entries_whose_files_are_gone_are_pruned_after_their_message(window, qtbot, messages, tmp_path):
    from app.menus import fill_recent_menu

    session = tmp_path / "gone.imface.json"
    assert window.save_session(session)
    broken = tmp_path / "broken.imface.json"
    assert window.save_session(broken)
    scan = tmp_path / "gone_scan.ply"
    window.recent.add("scan", scan)
    session.unlink()
    broken.write_text("{not json")
    kept = tmp_path / "kept.imface.json"
    assert window.save_session(kept)

    for path, title in ((session, "session"), (broken, "session"), (scan, "fit")):
        fill_recent_menu(window)
        label = ("Fit scan: " if path == scan else "Session: ") + path.name
        (action,) = [a for a in window.recent_menu.actions() if a.text() == label]
        count = len(messages)
        action.trigger()
        assert len(messages) == count + 1
        kind, box_title, text = messages[-1]
        assert kind == "critical" and title in box_title.lower() and path.name in text
        assert path.resolve() not in [p for _, p in window.recent.entries()]
    assert window.recent.entries() == [("session", kept.resolve())]


# ------------------------------------------------------------------------------------------------ help
def test_help_guide_shows_the_manual_with_its_picture(window, qtbot):
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QTextDocument

    from app.guide import GUIDE_PATH, IMAGE_WIDTH

    assert "&Guide" in [a.text() for a in window.menuBar().actions()[-1].menu().actions()]
    window.guide_action.trigger()
    dialog = window._guide_dialog
    qtbot.waitExposed(dialog)
    text = dialog.browser.toPlainText()
    for words in ("Fitting a scan", "Detail transfer", "Correspondence colours", "Exports", "Sessions",
                  "PageUp / PageDown", "by 0.1", "by 0.5", "Home / End"):
        assert words in text, words
    picture = dialog.browser.document().resource(QTextDocument.ResourceType.ImageResource.value,
                                                 QUrl("screenshot.png"))
    assert picture is not None and not picture.isNull() and picture.width() == IMAGE_WIDTH
    assert len(GUIDE_PATH.read_text().splitlines()) < 90  # one or two screens
