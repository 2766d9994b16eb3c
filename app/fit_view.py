"""The document's fit state on screen (Qt): the scan and its error map, or the notice that they are hidden.

``Document.fit`` is the fit of the current face (``app.document``); when the face is edited away from it, the
scan overlay and the error colours go, a notice in the viewport says why, the "Fit error (mm)" colour mode is
disabled (``menus.update_actions``), and the fit summary says it describes the face before the edits.
Undo / redo back to the fitted face shows them again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.menus import update_actions

if TYPE_CHECKING:
    from app.main_window import MainWindow

__all__ = ["show_current", "show_fit", "show_sources"]


def show_current(w: "MainWindow") -> None:
    """The identity panel's "Current:" line, from the document (called on every change of the face)."""
    if w.identity_panel is not None:
        w.identity_panel.label.setText(f"Current: {w.document.face_description()}")


def show_sources(w: "MainWindow") -> None:
    """The detail panel's sources (training faces, then fitted scans), after a fit was added."""
    if w.detail_panel is not None:
        w.detail_panel.set_sources([label for label, _ in w.document.detail_sources])


def fit_summary_text(w: "MainWindow") -> str:
    """The detail panel's fit summary: of the current face's fit, or marked as the fit before the edits."""
    doc = w.document
    if doc.fit is not None:
        return "\n".join([doc.fit.summary().capitalize(), *doc.fit.warnings])
    stale = doc.stale_fit
    if stale is None:
        return ""
    return f"Before your edits (the fit no longer describes this face): {stale.summary()}"


def show_fit(w: "MainWindow") -> None:
    """Show the current face's fit (scan, error map) or hide it with a notice; the actions and texts follow."""
    doc = w.document
    fit = doc.fit
    if fit is None:
        w.viewport.set_scan(None)
    else:
        w.viewport.set_scan(fit.scan_vertices, fit.scan_faces, fit.errors_mm)
    w.viewport.show_notice(doc.fit_notice())
    if w.detail_panel is not None:
        w.detail_panel.fit_info.setText(fit_summary_text(w))
    show_current(w)
    update_actions(w)
