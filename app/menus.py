"""The editor's menus and toolbar: File, Edit, View, Help (Qt).

``build_menus(window)`` makes the actions, connected to the window's methods, and keeps them on the window
(``window.undo_action``, ``window.colour_actions["error"]``, ...) so it can enable and check them.
File > Open recent drops an entry whose file turns out to be gone or broken, after its error message.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu

from app import dialogs
from app.document import COLOUR_MODES, SCAN_MODES
from app.guide import show_guide
from app.session import SessionError, load_session

if TYPE_CHECKING:
    from app.main_window import MainWindow

__all__ = ["QUALITIES", "build_menus", "check_view_actions", "fill_recent_menu", "open_recent", "update_actions"]

QUALITIES = {96: "Draft (96\N{SUPERSCRIPT THREE})", 128: "Standard (128\N{SUPERSCRIPT THREE})",
             192: "High (192\N{SUPERSCRIPT THREE})", 256: "Full (256\N{SUPERSCRIPT THREE})"}


def _action(window: "MainWindow", text: str, slot: Callable, shortcut: Any = None, tip: str = "",
            checkable: bool = False) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        if isinstance(shortcut, (list, tuple)):
            action.setShortcuts([QKeySequence(s) for s in shortcut])
        else:
            action.setShortcut(QKeySequence(shortcut))
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.setCheckable(checkable)
    action.triggered.connect(slot)
    return action


def _choices(window: "MainWindow", menu: QMenu, choices: dict, slot: Callable[[Any], None]) -> dict[Any, QAction]:
    """One checkable action per choice (one of them checked at a time)."""
    group = QActionGroup(window)
    actions = {}
    for key, text in choices.items():
        action = _action(window, text, lambda _=False, k=key: slot(k), checkable=True)
        group.addAction(action)
        menu.addAction(action)
        actions[key] = action
    return actions


def build_menus(w: "MainWindow") -> None:
    """The menu bar and toolbar of ``w``; the actions become attributes of ``w``."""
    bar = w.menuBar()
    file_menu = bar.addMenu("&File")
    w.open_model_action = _action(w, "Open &model\N{HORIZONTAL ELLIPSIS}", lambda: dialogs.ask_open_model(w),
                                  "Ctrl+Shift+O", "Open another ImFace Studio model (.pt)")
    w.load_scan_action = _action(w, "&Load scan\N{HORIZONTAL ELLIPSIS}", lambda: dialogs.ask_load_scan(w), "Ctrl+L",
                                 "Fit the model to a 3D scan; the fit becomes the current face")
    w.export_action = _action(w, "&Export OBJ/PLY\N{HORIZONTAL ELLIPSIS}", lambda: dialogs.ask_export(w, colors=False),
                              "Ctrl+E", "Write the face as an OBJ or PLY mesh in millimetres")
    w.export_colors_action = _action(
        w, "Export OBJ/PLY with &colours\N{HORIZONTAL ELLIPSIS}", lambda: dialogs.ask_export(w, colors=True),
        "Ctrl+Shift+E", "Write the face with correspondence colours per vertex")
    w.export_rig_action = _action(w, "Export &rig (glTF)\N{HORIZONTAL ELLIPSIS}", w.rig_export.ask, None,
                                  "Write this person as a glTF rig: template topology, one morph target per named "
                                  "expression")
    w.open_session_action = _action(w, "&Open session\N{HORIZONTAL ELLIPSIS}", lambda: dialogs.ask_open_session(w),
                                    QKeySequence.StandardKey.Open, "Open a saved face, with its view and fit")
    w.save_session_action = _action(w, "&Save session", lambda: w.session_files.save_current(),
                                    QKeySequence.StandardKey.Save,
                                    "Save the face, the view and the newest fit to the session's file")
    w.save_session_as_action = _action(w, "Save session &as\N{HORIZONTAL ELLIPSIS}",
                                       lambda: dialogs.ask_save_session(w), QKeySequence.StandardKey.SaveAs,
                                       "Save the session to another file")
    w.quit_action = _action(w, "&Quit", w.close, QKeySequence.StandardKey.Quit, "Close ImFace Studio")
    file_menu.addAction(w.open_model_action)
    file_menu.addSeparator()
    file_menu.addAction(w.load_scan_action)
    file_menu.addAction(w.export_action)
    file_menu.addAction(w.export_colors_action)
    file_menu.addAction(w.export_rig_action)
    w.export_animation_action = _action(w, "Export &animation (glTF)\N{HORIZONTAL ELLIPSIS}",
                                        lambda: w.animation_export.ask("gltf"), None,
                                        "Write the timeline's animation: a morph target per keyframe and an "
                                        "animation of the morph weights")
    w.export_sequence_action = _action(w, "Export animation as OB&J sequence\N{HORIZONTAL ELLIPSIS}",
                                       lambda: w.animation_export.ask("obj"), None,
                                       "Write every frame of the timeline's animation as a numbered OBJ mesh")
    file_menu.addAction(w.export_animation_action)
    file_menu.addAction(w.export_sequence_action)
    file_menu.addSeparator()
    file_menu.addAction(w.open_session_action)
    file_menu.addAction(w.save_session_action)
    file_menu.addAction(w.save_session_as_action)
    w.recent_menu = file_menu.addMenu("Open &recent")
    w.recent_menu.aboutToShow.connect(lambda: fill_recent_menu(w))
    file_menu.addSeparator()
    file_menu.addAction(w.quit_action)

    edit_menu = bar.addMenu("&Edit")
    w.undo_action = _action(w, "&Undo", w.undo, "Ctrl+Z", "Undo the last edit")
    w.redo_action = _action(w, "&Redo", w.redo, ["Ctrl+Shift+Z", "Ctrl+Y"], "Redo the edit undone")
    edit_menu.addAction(w.undo_action)
    edit_menu.addAction(w.redo_action)
    edit_menu.addSeparator()
    w.symmetrise_action = _action(w, "&Symmetrise face…", w.symmetrise.start, None,
                                  "Make the face symmetric: average it with its mirror image about its own mid-plane "
                                  "and fit the model to that (one undo step)")
    edit_menu.addAction(w.symmetrise_action)

    view_menu = bar.addMenu("&View")
    w.reset_view_action = _action(w, "&Reset view", w.viewport.reset_view, "Ctrl+R", "Look at the face from the front")
    view_menu.addAction(w.reset_view_action)
    w.colour_actions = _choices(w, view_menu.addMenu("&Colour"), COLOUR_MODES, w.set_colour_mode)
    w.landmarks_action = _action(w, "Show &landmarks", lambda on: w.set_landmarks_visible(on),
                                 tip="Mark the model's 5 landmarks (eye corners, nose tip, mouth corners)",
                                 checkable=True)
    view_menu.addAction(w.landmarks_action)
    w.scan_actions = _choices(w, view_menu.addMenu("&Scan"), SCAN_MODES, w.set_scan_mode)
    w.quality_actions = _choices(w, view_menu.addMenu("Mesh &quality"), QUALITIES, w.set_quality)
    for actions, key in ((w.colour_actions, w.colour_mode), (w.scan_actions, w.scan_mode),
                         (w.quality_actions, w.quality)):
        if key in actions:
            actions[key].setChecked(True)

    help_menu = bar.addMenu("&Help")
    w.guide_action = _action(w, "&Guide", lambda: show_guide(w), QKeySequence.StandardKey.HelpContents,
                             "A short manual: sliders, fitting, details, colours, exports, sessions, keys")
    help_menu.addAction(w.guide_action)
    help_menu.addAction(_action(w, "&Mouse and keys", lambda: dialogs.show_help(w)))
    help_menu.addAction(_action(w, "&About ImFace Studio", lambda: dialogs.show_about(w)))

    toolbar = w.addToolBar("View")
    toolbar.setObjectName("view_toolbar")
    toolbar.setMovable(False)
    toolbar.addAction(w.undo_action)
    toolbar.addAction(w.redo_action)
    toolbar.addSeparator()
    toolbar.addAction(w.reset_view_action)
    for action in w.colour_actions.values():
        toolbar.addAction(action)
    toolbar.addAction(w.landmarks_action)


def fill_recent_menu(w: "MainWindow") -> None:
    """File > Open recent, filled when it opens."""
    menu = w.recent_menu
    menu.clear()
    entries = w.recent.entries()
    for kind, path in entries:
        action = menu.addAction(f"{'Session' if kind == 'session' else 'Fit scan'}: {path.name}")
        action.setToolTip(str(path))
        action.setStatusTip(str(path))
        action.triggered.connect(lambda _=False, k=kind, p=path: open_recent(w, k, p))
        action.setEnabled(w.editor is not None)
    if not entries:
        menu.addAction("(nothing yet)").setEnabled(False)
    else:
        menu.addSeparator()
        menu.addAction("Clear the list", w.recent.clear)


def open_recent(w: "MainWindow", kind: str, path: Path) -> None:
    """Open a recent session, or fit a recent scan; an entry whose file is gone or broken leaves the list."""
    if kind == "session":
        if not w.open_session(path) and not _readable_session(path):
            w.recent.remove(kind, path)
        return
    if not path.is_file():
        w.show_error("Could not fit the scan", f"{path.name} is no longer at {path.parent}.")
        w.recent.remove(kind, path)
        return
    if w.fit_dialog is not None:  # a fit runs: this one would not start
        return

    def forget_if_unreadable(how: str) -> None:
        w.fitFinished.disconnect(forget_if_unreadable)
        if how == "failed" and not _readable_scan(path):
            w.recent.remove(kind, path)

    w.fitFinished.connect(forget_if_unreadable)
    w.load_scan(path)


def _readable_session(path: Path) -> bool:
    try:
        load_session(path)
    except SessionError:
        return False
    return True


def _readable_scan(path: Path) -> bool:
    from imface_core.fitting.scan_io import ScanError, load_scan

    try:
        load_scan(path)
    except ScanError:
        return False
    return True


def update_actions(w: "MainWindow") -> None:
    """Enable what the window's document allows now."""
    has_model = w.editor is not None
    for action in (w.load_scan_action, w.export_action, w.export_colors_action, w.export_rig_action,
                   w.export_animation_action, w.export_sequence_action,
                   w.symmetrise_action, w.open_session_action,
                   w.save_session_action, w.save_session_as_action):
        action.setEnabled(has_model)
    w.undo_action.setEnabled(w.document.can_undo)
    w.redo_action.setEnabled(w.document.can_redo)
    w.colour_actions["error"].setEnabled(w.fit is not None)
    for action in w.scan_actions.values():
        action.setEnabled(w.fit is not None)


def check_view_actions(w: "MainWindow", what: str) -> None:
    """Check the action of the document's view setting ``what`` ("colour_mode", "scan_mode", "landmarks", "quality")."""
    doc = w.document
    if what == "colour_mode":
        w.colour_actions[doc.colour_mode].setChecked(True)
    elif what == "scan_mode":
        w.scan_actions[doc.scan_mode].setChecked(True)
    elif what == "landmarks":
        w.landmarks_action.setChecked(doc.show_landmarks)
    elif what == "quality" and doc.quality in w.quality_actions:
        w.quality_actions[doc.quality].setChecked(True)
