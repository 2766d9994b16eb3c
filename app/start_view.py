"""The stored start face drawn as soon as the window is up, before the model has loaded.

Loading a model means importing torch first (seconds on a 2-core CPU); the model's stored start face
(``imface_core.start_face``, shipped beside the model or cached by an earlier launch) needs only numpy, so the
window shows it at once and the sliders follow when the model is ready (its first full-detail face is then the
same mesh, read again under its exact key or computed).
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.polydata import face_polydata
from app.viewport import Viewport
from imface_core.start_face import StartFace

__all__ = ["show_stored_start_face"]

_log = logging.getLogger(__name__)


def show_stored_start_face(viewport: Viewport, model_path: Path, quality: int, colors: bool) -> bool:
    """Draw the model's stored start face for ``quality``; False (nothing drawn) when there is none for this
    model file, engine and view."""
    try:
        stored = StartFace(model_path).peek(quality, colors=colors)
    except OSError as exc:  # an unreadable model file: its loader reports it
        _log.debug("no stored start face for %s: %s", model_path, exc)
        return False
    if stored is None:
        return False
    viewport.set_face(face_polydata(*stored))  # (the status bar says the model is loading)
    return True
