"""Session files (``.imface.json``): the edited face's codes and slider state, plus view settings (no Qt).

A session stores both the codes (``z_id``, ``z_exp``, ``z_det``) and the ``FaceState`` that produced them.
Opened on the same model, the slider state comes back exactly; on another model of the same code sizes the
codes are used (the sliders show their projections).  Every problem raises ``SessionError`` with a message
naming the file; nothing is changed until a session has been read completely (``load_session``) and its
face checked against the model (``session_state``: slider ranges and ``FaceModel.check_codes``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from app.face_state import FaceSpace, FaceState
from imface_core.errors import ImFaceError

__all__ = ["SESSION_KIND", "SESSION_SUFFIX", "SESSION_VERSION", "Session", "SessionError", "load_session",
           "save_session", "session_state"]

SESSION_KIND = "imface-studio-session"
SESSION_VERSION = 1
SESSION_SUFFIX = ".imface.json"
_MAX_BYTES = 16 * 1024 * 1024


class SessionError(ImFaceError, ValueError):
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


def session_state(session: Session, space: FaceSpace, check_codes: Callable[[Any], Any], path: str | Path) -> FaceState:
    """The face to open for ``session`` (read from ``path``) on the model of ``space``.

    The saved slider state when its sizes fit this model, else the saved codes (their projections on the
    sliders). Either way the state must lie within the sliders' ranges and its codes must pass
    ``check_codes`` (``FaceModel.check_codes``); anything else raises ``SessionError`` naming the file.
    """
    name = f"`{path}`"
    try:
        space.check_sizes(session.state)
        state = session.state
    except ValueError:
        state = None
    if state is None:
        from imface_core.face_codes import FaceCodes

        sizes = {"z_id": space.id_dim, "z_exp": space.exp_dim, "z_det": space.det_dim}
        for key, values in session.codes.items():
            if len(values) != sizes[key]:
                raise SessionError(f"{name} was made with a model whose {key} has {len(values)} values; this "
                                   f"model's has {sizes[key]}")
        codes = FaceCodes(*(np.asarray(session.codes[k], dtype=np.float64) for k in ("z_id", "z_exp", "z_det")))
        try:
            check_codes(codes)
        except ValueError as exc:
            raise SessionError(f"{name} cannot be opened on this model: {exc}") from exc
        state = space.state_from_codes(codes, session.state.detail_scale, session.state.label)
    try:
        space.check(state)
        check_codes(space.codes(state))
    except ValueError as exc:  # CodesError is one
        raise SessionError(f"{name} cannot be opened on this model: {exc}") from exc
    return state
