"""Session files (``.imface.json``): the edited face's codes and slider state, view settings and the newest fit (no Qt).

A session stores both the codes (``z_id``, ``z_exp``, ``z_det``) and the ``FaceState`` that produced them.
Since version 2 it may also keep the newest fit (``SavedFit``): the scan by path and SHA-256, the scan-to-model
transform, the fit codes and the error map, so re-opening shows the overlay and error map without fitting
again (``app.session_fit``). Since version 3 it may keep the timeline (``app.timeline``: keyframes of the
expression); version 1 and 2 files (no fit, no timeline) still open.
Opened on the same model, the slider state comes back exactly; on another model of the same code sizes the
codes are used (the sliders show their projections).  Every problem raises ``SessionError`` with a message
naming the file; nothing is changed until a session has been read completely (``load_session``) and its
face checked against the model (``session_state``: slider ranges and ``FaceModel.check_codes``).
"""

from __future__ import annotations

import base64
import json
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from app.face_state import FaceSpace, FaceState
from app.timeline import Timeline
from imface_core.errors import ImFaceError

__all__ = ["SESSION_KIND", "SESSION_SUFFIX", "SESSION_VERSION", "SavedFit", "Session", "SessionError",
           "load_session", "save_session", "session_state", "session_timeline"]

SESSION_KIND = "imface-studio-session"
SESSION_VERSION = 3
SESSION_SUFFIX = ".imface.json"
_MAX_BYTES = 16 * 1024 * 1024


class SessionError(ImFaceError, ValueError):
    """A session file that cannot be used; the message names the file and the problem."""


@dataclass
class SavedFit:
    """A fit as a session keeps it: enough to show the scan and its error map again without fitting."""

    scan_path: str
    """Absolute path of the fitted scan file."""
    scan_sha256: str
    """SHA-256 of the scan file's bytes when the session was saved (a changed file is not overlaid)."""
    scan_to_model: np.ndarray
    """(4, 4) the fit's alignment: scan millimetres -> model units (``Alignment.matrix``, as ``imface fit``
    reports write it)."""
    codes: dict[str, list[float]]
    """z_id, z_exp, z_det of the fit."""
    errors_mm: np.ndarray
    """(N,) float32 error of each scan vertex, mm, NaN where not covered (``FitOutcome.errors_mm``)."""
    stats: dict[str, Any] = field(default_factory=dict)
    chamfer_mm: float | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        errors = np.ascontiguousarray(self.errors_mm, dtype="<f4").tobytes()
        return {
            "scan": {"path": self.scan_path, "sha256": self.scan_sha256},
            "matrix_scan_mm_to_normalised": np.asarray(self.scan_to_model, dtype=float).tolist(),
            "codes": {k: [float(x) for x in v] for k, v in self.codes.items()},
            "errors_mm": {"count": int(len(self.errors_mm)), "float32_zlib_base64":
                          base64.b64encode(zlib.compress(errors, 6)).decode("ascii")},
            "stats": {k: v for k, v in self.stats.items() if isinstance(v, (int, float, str, bool))},
            "chamfer_mm": self.chamfer_mm,
            "warnings": [str(w) for w in self.warnings],
            "seconds": float(self.seconds),
        }

    @classmethod
    def from_dict(cls, doc: Any) -> "SavedFit":
        """Inverse of ``to_dict``; raises ``ValueError`` naming the bad field."""
        if not isinstance(doc, dict):
            raise ValueError("`fit` must be a mapping")
        scan = doc.get("scan")
        if not (isinstance(scan, dict) and isinstance(scan.get("path"), str) and isinstance(scan.get("sha256"), str)):
            raise ValueError("`fit.scan` must name the scan's path and sha256")
        matrix = _matrix(doc.get("matrix_scan_mm_to_normalised"), 4, 4)
        if matrix is None or np.linalg.det(matrix[:3, :3]) <= 0:
            raise ValueError("`fit.matrix_scan_mm_to_normalised` must be a 4x4 similarity transform")
        errors = doc.get("errors_mm")
        try:
            raw = zlib.decompress(base64.b64decode(errors["float32_zlib_base64"], validate=True))
            values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
            count = errors["count"]
        except (TypeError, KeyError, ValueError, zlib.error) as exc:
            raise ValueError(f"`fit.errors_mm` cannot be read ({type(exc).__name__})") from None
        if values.size != count:
            raise ValueError(f"`fit.errors_mm` holds {values.size} values, not the {count} it says")
        chamfer = doc.get("chamfer_mm")
        stats = doc.get("stats") if isinstance(doc.get("stats"), dict) else {}
        warnings = doc.get("warnings") if isinstance(doc.get("warnings"), list) else []
        seconds = doc.get("seconds")
        return cls(scan["path"], scan["sha256"], matrix,
                   _codes(doc.get("codes"), "fit.codes"), values, stats,
                   float(chamfer) if _finite_number(chamfer) else None, [str(w) for w in warnings],
                   float(seconds) if _finite_number(seconds) else 0.0)


def _matrix(rows: Any, n: int, m: int) -> np.ndarray | None:
    """``rows`` as an (n, m) float array when it is n lists of m finite numbers, else None."""
    if not (isinstance(rows, list) and len(rows) == n and all(isinstance(r, list) and len(r) == m for r in rows)
            and all(_finite_number(v) for r in rows for v in r)):
        return None
    return np.array(rows, dtype=np.float64)


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _codes(codes: Any, where: str) -> dict[str, list[float]]:
    """z_id, z_exp, z_det as lists of finite floats; ``ValueError`` naming ``where`` otherwise."""
    if not isinstance(codes, dict):
        raise ValueError(f"`{where}` is missing (z_id, z_exp, z_det)")
    clean: dict[str, list[float]] = {}
    for key in ("z_id", "z_exp", "z_det"):
        values = codes.get(key)
        if not isinstance(values, list) or not values:
            raise ValueError(f"`{where}` lacks `{key}`")
        if not all(_finite_number(v) for v in values):
            raise ValueError(f"`{where}`: `{key}` holds values that are not finite numbers")
        clean[key] = [float(v) for v in values]
    return clean


@dataclass
class Session:
    state: FaceState
    codes: dict[str, list[float]]
    """z_id, z_exp, z_det of ``state`` (as computed when saved)."""
    model: str | None = None
    """Path of the model the session was made with (informative)."""
    view: dict[str, Any] = field(default_factory=dict)
    """Colour mode, landmarks, mesh quality, ... (keys the window knows; unknown ones are ignored)."""
    fit: SavedFit | None = None
    """The newest fit, when the session keeps one (version 2)."""
    timeline: Timeline | None = None
    """The keyframes, when the session has any (version 3)."""


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
    if session.fit is not None:
        doc["fit"] = session.fit.to_dict()
    if session.timeline is not None and session.timeline.keys:
        doc["timeline"] = session.timeline.to_dict()
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
    try:
        clean = _codes(doc.get("codes"), "codes")
        fit = SavedFit.from_dict(doc["fit"]) if doc.get("fit") is not None else None
        timeline = Timeline.from_dict(doc["timeline"]) if doc.get("timeline") is not None else None
    except ValueError as exc:
        raise SessionError(f"`{path}`: {exc}") from exc
    model = doc.get("model")
    view = doc.get("view") if isinstance(doc.get("view"), dict) else {}
    return Session(state, clean, model if isinstance(model, str) else None, view, fit, timeline)


def session_state(session: Session, space: FaceSpace, check_codes: Callable[[Any], Any], path: str | Path) -> FaceState:
    """The face to open for ``session`` (read from ``path``) on the model of ``space``.

    The saved slider state when its sizes fit this model, else the saved codes (their projections on the
    sliders). Either way the state must lie within the sliders' ranges and its codes must pass
    ``check_codes`` (``FaceModel.check_codes``), and so must the keyframes (``session_timeline``); anything else
    raises ``SessionError`` naming the file.
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
    session_timeline(session, space, check_codes, path, state)
    return state


def session_timeline(session: Session, space: FaceSpace, check_codes: Callable[[Any], Any], path: str | Path,
                     state: FaceState) -> Timeline:
    """The timeline to open with the face ``state`` (``session_state``): the session's, or an empty one when it
    has none or when its face was opened from the codes (a model of other slider counts: keyframes hold
    slider values). A keyframe outside the sliders' ranges, or whose face the model refuses, raises
    ``SessionError`` naming the file."""
    timeline = session.timeline
    if timeline is None or not _same_sizes(space, session):
        return Timeline()
    for key in timeline.keys:
        try:
            space.check(key.state)
            check_codes(space.codes(key.apply(state)))
        except ValueError as exc:
            raise SessionError(f"`{path}`: the keyframe at frame {key.frame} cannot be used on this model: "
                               f"{exc}") from exc
    return timeline


def _same_sizes(space: FaceSpace, session: Session) -> bool:
    try:
        space.check_sizes(session.state)
    except ValueError:
        return False
    return True
