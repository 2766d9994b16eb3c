"""Session files (``.imface.json``): the edited face's codes and slider state, plus view settings (no Qt).

A session stores both the codes (``z_id``, ``z_exp``, ``z_det``) and the ``FaceState`` that produced them.
Opened on the same model, the slider state comes back exactly; on another model of the same code sizes the
codes are used (the sliders show their projections).  Every problem raises ``SessionError`` with a message
naming the file; nothing is changed until a session has been read completely.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.face_state import FaceState

__all__ = ["SESSION_KIND", "SESSION_SUFFIX", "SESSION_VERSION", "Session", "SessionError", "load_session",
           "save_session"]

SESSION_KIND = "imface-studio-session"
SESSION_VERSION = 1
SESSION_SUFFIX = ".imface.json"
_MAX_BYTES = 16 * 1024 * 1024


class SessionError(ValueError):
    """A session file that cannot be used; the message names the file and the problem."""


@dataclass
class Session:
    state: FaceState
    codes: dict[str, list[float]]
    """z_id, z_exp, z_det of ``state`` (as computed when saved)."""
    model: str | None = None
    """Path of the model the session was made with (informative)."""
    view: dict[str, Any] = field(default_factory=dict)
    """Colour mode, landmarks, mesh quality, ... (keys the window knows; unknown ones are ignored)."""


def save_session(path: str | Path, session: Session) -> Path:
    """Write ``session`` as JSON, atomically (a failed save leaves any old file untouched)."""
    from imface_core.io_utils import atomic_write_text

    path = Path(path)
    doc = {
        "kind": SESSION_KIND,
        "version": SESSION_VERSION,
        "model": session.model,
        "codes": {k: [float(x) for x in v] for k, v in session.codes.items()},
        "state": session.state.to_dict(),
        "view": session.view,
    }
    atomic_write_text(path, json.dumps(doc, indent=1))
    return path


def load_session(path: str | Path) -> Session:
    """Read and check a session file; raises ``SessionError``."""
    path = Path(path)
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise SessionError(f"`{path}` is {path.stat().st_size / 1e6:.0f} MB: too large for a session file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SessionError(f"session file not found: `{path}`") from None
    except IsADirectoryError:
        raise SessionError(f"`{path}` is a folder, not a session file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"`{path}` could not be read ({type(exc).__name__}: {exc})") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SessionError(f"`{path}` is not a session file: invalid JSON ({exc.msg}, line {exc.lineno})") from exc
    if not isinstance(doc, dict) or doc.get("kind") != SESSION_KIND:
        raise SessionError(f"`{path}` is JSON but not an ImFace Studio session")
    version = doc.get("version")
    if not isinstance(version, int) or version > SESSION_VERSION:
        raise SessionError(f"`{path}` has session version {version!r}; this ImFace Studio reads version "
                           f"{SESSION_VERSION} or older")
    try:
        state = FaceState.from_dict(doc.get("state"))
    except ValueError as exc:
        raise SessionError(f"`{path}`: {exc}") from exc
    codes = doc.get("codes")
    if not isinstance(codes, dict):
        raise SessionError(f"`{path}` lacks the codes (z_id, z_exp, z_det)")
    clean: dict[str, list[float]] = {}
    for key in ("z_id", "z_exp", "z_det"):
        values = codes.get(key)
        if not isinstance(values, list) or not values:
            raise SessionError(f"`{path}`: codes lack `{key}`")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise SessionError(f"`{path}`: `{key}` holds values that are not finite numbers")
        clean[key] = [float(v) for v in values]
    model = doc.get("model")
    view = doc.get("view") if isinstance(doc.get("view"), dict) else {}
    return Session(state, clean, model if isinstance(model, str) else None, view)
