"""The editor's document: the loaded model, the face being edited, its undo history, fits and view modes (no Qt).

The window shows a ``Document`` and writes back to it (napari's model / view split): panels, menus and the
viewport call its methods, and listen to what it reports through plain callbacks::

    doc.on("state", fn)    # fn(fresh=..., slider=...): the face changed (slider: a slider moved it; fresh:
                           #   a jump, so the mesher searches the whole grid again)
    doc.on("history", fn)  # fn(): what undo / redo can do changed
    doc.on("view", fn)     # fn(what=..., remesh=...): "colour_mode", "scan_mode", "landmarks" or "quality" was
                           #   set (remesh False: a session's quality; the face that comes with it is meshed);
                           #   "fit": ``doc.fit`` changed (the current face became, or stopped being, a fitted one)
    doc.on("model", fn)    # fn(): a model was loaded (everything above starts again)
    doc.on("fit", fn)      # fn(outcome): a fit was added (it is the current face next)
    doc.on("timeline", fn) # fn(): the keyframes, frame rate or length changed (``app.timeline``)

Undo steps are ``Snapshot``s of the face and the timeline: a keyframe added, moved or removed is undone like a
slider edit.

Fit state belongs to the face it was fitted to: ``doc.fit`` is the fit of the current face, shown with its scan
and error map, and None as soon as the face is edited away from it (a slider, a preset, undo to before the
fit); undo / redo back to the fitted face brings it back, and the "Fit error (mm)" colours with it.
``face_description`` and ``fit_notice`` say so in words.

Nothing here is slow, so it runs on the GUI thread; the mesh scheduler (``app.scheduler``) listens to it too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from app.export_frame import MODEL_FRAME, ExportFrame, scan_frame
from app.face_state import FaceSpace, FaceState
from app.history import History
from app.session import Session, load_session, save_session, session_state, session_timeline
from app.timeline import Timeline

if TYPE_CHECKING:
    from app.engine import EditorModel, FitOutcome

__all__ = ["COLOUR_MODES", "DEFAULT_QUALITY", "Document", "SCAN_MODES", "Snapshot"]

_log = logging.getLogger(__name__)

COLOUR_MODES = {"plain": "Plain skin", "correspondence": "Correspondence colours", "error": "Fit error (mm)"}
SCAN_MODES = {"hidden": "Hidden", "overlay": "Overlaid on the face", "beside": "Beside the face"}
DEFAULT_QUALITY = 128
EVENTS = ("state", "history", "view", "model", "fit", "timeline")


@dataclass(frozen=True)
class Snapshot:
    """One undo step: the face and the timeline."""

    state: FaceState
    timeline: Timeline


class Document:
    """What the editor edits (see the module doc).

    Args:
        quality: resolution of the full-detail mesh (N of the equivalent dense grid).
        seed: of the random faces (None: a new one each run).
    """

    def __init__(self, quality: int = DEFAULT_QUALITY, seed: int | None = None):
        self.editor: EditorModel | None = None
        self.space: FaceSpace | None = None
        self.state: FaceState | None = None
        self.history: History[Snapshot] | None = None
        self.timeline = Timeline()
        """The keyframes of the expression animation (``app.timeline``)."""
        self.fits: list[FitOutcome] = []
        """Every fit of this model, oldest first."""
        self.fit: FitOutcome | None = None
        """The fit of the current face (its scan and error map are shown); None when the face is not a fitted
        one: never fitted, edited since, or undone to before the fit."""
        self._fitted: list[tuple[FaceState, FitOutcome]] = []
        """Each fit with the face it was fitted to."""
        self._error_paused = False
        """The error colours were on when the face left its fit: they come back with the fit."""
        self.detail_sources: list[tuple[str, np.ndarray]] = []
        """(label, z_det) the details can be taken from: training faces, then fitted scans."""
        self.colour_mode = "plain"
        self.scan_mode = "overlay"
        self.show_landmarks = False
        self.quality = int(quality)
        self._rng = np.random.default_rng(seed)
        self._uncommitted = False
        self._listeners: dict[str, list[Callable[..., Any]]] = {name: [] for name in EVENTS}

    # -- events ------------------------------------------------------------------------------------
    def on(self, event: str, fn: Callable[..., Any]) -> None:
        """Call ``fn`` after every ``event`` (see the module doc), in the order connected."""
        if event not in self._listeners:
            raise ValueError(f"unknown document event {event!r}; one of {EVENTS}")
        self._listeners[event].append(fn)

    def _emit(self, event: str, *args: Any, **kwargs: Any) -> None:
        for fn in list(self._listeners[event]):
            fn(*args, **kwargs)

    # -- the model ---------------------------------------------------------------------------------
    def load_model(self, editor: "EditorModel") -> None:
        """Start over on ``editor``: its start face, an empty history, no fits."""
        self.editor, self.space = editor, editor.space
        self.fits, self.fit, self._fitted, self._error_paused = [], None, [], False
        self.detail_sources = editor.detail_sources()
        self.state = editor.space.initial_state()
        self.timeline = Timeline()
        self.history = History(Snapshot(self.state, self.timeline))
        self._uncommitted = False
        if self.colour_mode == "error":
            self.set_colour_mode("plain")
        self._emit("model")

    # -- edits -------------------------------------------------------------------------------------
    def edit(self, state: FaceState, *, commit_later: bool = True) -> bool:
        """A slider moved the face to ``state``; False when nothing changed.

        ``commit_later``: a keyboard or wheel step, recorded as an undo step by ``flush`` (the window calls it
        after a pause) or before the next discrete edit; a drag's steps (False) are recorded by ``commit``
        when it ends, so one drag is one undo step.
        """
        if self.state is None or state == self.state:
            return False
        self.state = state
        self._uncommitted = self._uncommitted or commit_later
        self._follow_fit()
        self._emit("state", fresh=False, slider=True)
        return True

    def set_state(self, state: FaceState, *, commit: bool = True, fresh: bool = True) -> bool:
        """Show ``state`` (a discrete edit: a button, a pick, undo, a session, a fit); ``commit`` records it as
        an undo step; ``fresh``: a jump (the mesher searches the whole grid). False without a model."""
        if self.space is None:
            return False
        self.space.check(state)
        self.flush()
        self.state = state
        self._follow_fit()
        self._emit("state", fresh=fresh, slider=False)
        if commit:
            self.commit()
        return True

    def commit(self) -> bool:
        """Record the current face as an undo step (True when it differs from the last one)."""
        self._uncommitted = False
        if self.history is None or self.state is None:
            return False
        changed = self.history.commit(Snapshot(self.state, self.timeline))
        self._emit("history")
        return changed

    def flush(self) -> None:
        """Record the keyboard / wheel steps not recorded yet (``edit(..., commit_later=True)``)."""
        if self._uncommitted:
            self.commit()

    @property
    def can_undo(self) -> bool:
        return self.history is not None and self.history.can_undo

    @property
    def can_redo(self) -> bool:
        return self.history is not None and self.history.can_redo

    def undo(self) -> bool:
        """Back one step (False at the start)."""
        self.flush()
        return self._restore(self.history.undo() if self.history is not None else None)

    def redo(self) -> bool:
        self.flush()
        return self._restore(self.history.redo() if self.history is not None else None)

    def _restore(self, snapshot: Snapshot | None) -> bool:
        """Show an undo step: its timeline, then its face (each only when it differs)."""
        if snapshot is None:
            return False
        if snapshot.timeline != self.timeline:
            self.timeline = snapshot.timeline
            self._emit("timeline")
        if snapshot.state != self.state:
            return self.set_state(snapshot.state, commit=False)
        self._emit("history")
        return True

    def set_timeline(self, timeline: Timeline) -> bool:
        """A keyframe edit (an undo step); False without a model or when nothing changed."""
        if self.space is None or timeline == self.timeline:
            return False
        self.flush()
        self.timeline = timeline
        self._emit("timeline")
        return self.commit()

    def pick_identity(self, index: int) -> None:
        """Training identity ``index`` with its details, the expression kept."""
        if self.editor is None:
            return
        codes = self.editor.training_codes(index)
        state = self.space.with_identity_code(self.state, codes.z_id, label=self.editor.identities[index])
        self.set_state(self.space.with_detail_code(state, codes.z_det))

    def random_face(self) -> None:
        if self.space is not None:
            self.set_state(self.space.random_identity(self.state, int(self._rng.integers(1_000_000))))

    def reset_identity(self) -> None:
        if self.space is not None:
            state = self.space.reset_identity(self.state)
            self.set_state(self.space.with_detail_code(state, self.space.det_mean))

    def neutral_expression(self) -> None:
        if self.space is not None:
            self.set_state(self.space.neutral_expression(self.state))

    def transfer_details(self, index: int) -> str | None:
        """The details of source ``index`` on the current face (no fresh mesh search: the shape stays); the
        source's label, or None for no such source."""
        if self.space is None or not 0 <= index < len(self.detail_sources):
            return None
        label, z_det = self.detail_sources[index]
        self.set_state(self.space.with_detail_code(self.state, z_det), fresh=False)
        return label

    def add_fit(self, outcome: "FitOutcome", state: FaceState | None = None, *, show: bool = True) -> None:
        """A finished fit of the face ``state`` (default: the fit's codes, "fit: <scan>"); its details become a
        detail source. ``show``: the fitted face becomes the current face (an undo step)."""
        if self.space is None:
            return
        if state is None:
            state = self.space.state_from_codes(outcome.codes, detail_scale=1.0, label=f"fit: {outcome.name}")
        self.fits.append(outcome)
        self._fitted.append((state, outcome))
        source = (f"fit: {outcome.name}", np.asarray(outcome.codes.z_det))
        if not any(name == source[0] and np.array_equal(z, source[1]) for name, z in self.detail_sources):
            self.detail_sources.append(source)  # (a session re-opened holds the same fit again: listed once)
        self._emit("fit", outcome)
        if show:
            self.set_state(state)
        else:
            self._follow_fit()

    def fitted_state(self, outcome: "FitOutcome") -> FaceState | None:
        """The face ``outcome`` was fitted to (None for a fit of another model)."""
        return next((state for state, fit in self._fitted if fit is outcome), None)

    def _follow_fit(self) -> None:
        """``fit`` := the fit of the current face; the error colours go and come back with it."""
        fit = next((fit for state, fit in reversed(self._fitted) if state == self.state), None)
        if fit is self.fit:
            return
        self.fit = fit
        self._emit("view", what="fit")
        if fit is None and self.colour_mode == "error":
            self._error_paused = True
            self._set_colour_mode("plain")
        elif fit is not None and self._error_paused:
            self._error_paused = False
            self._set_colour_mode("error")

    @property
    def stale_fit(self) -> "FitOutcome | None":
        """The newest fit when the current face is not a fitted one (its scan and error map are hidden)."""
        return self.fits[-1] if self.fits and self.fit is None else None

    def face_description(self) -> str:
        """What the current face is, in words (the panel's "Current:" line)."""
        if self.state is None:
            return "no face"
        if self.fit is not None:
            return f"fit of {self.fit.name}"
        if self.state.label.startswith("fit: "):
            return f"{self.state.label}, edited since the fit (its error map no longer applies)"
        return self.space.identity_label(self.state) if self.space is not None else self.state.label

    def fit_notice(self) -> str | None:
        """A line for the viewport while a fit is hidden because the face is not the fitted one (else None)."""
        stale = self.stale_fit
        if stale is None:
            return None
        return (f"Fit of {stale.name} hidden: this is not the fitted face (edited since, or another undo step).\n"
                "Undo / redo back to the fitted face to see the scan and its fit error.")

    # -- export --------------------------------------------------------------------------------------
    @property
    def frame_fit(self) -> "FitOutcome | None":
        """The fit whose scan frame an export can be written in: the current face's fit, else the newest one (an
        edit moves the face, not the frame it is placed in); None without a fit that kept its alignment."""
        fit = self.fit or self.stale_fit
        return fit if fit is not None and getattr(fit, "alignment", None) is not None else None

    def export_frame(self, choice: str = "scan") -> ExportFrame:
        """``choice`` "scan": the frame of ``frame_fit``'s scan (the model's when there is none); "model"."""
        if choice not in ("scan", "model"):
            raise ValueError(f"export frame must be 'scan' or 'model', got {choice!r}")
        fit = self.frame_fit
        return scan_frame(fit.alignment, fit.name) if choice == "scan" and fit is not None else MODEL_FRAME

    def export_name(self, suffix: str = ".obj") -> str:
        """A file name for an export of the current face: the scan's name for a fit ("_fit", or "_edited" once
        edited), else the face's label (a training identity), else "face"."""
        fit = self.fit or self.stale_fit
        if fit is not None and self.state is not None and self.state.label.startswith("fit: "):
            stem = f"{Path(fit.name).stem}_{'fit' if self.fit is not None else 'edited'}"
        elif self.state is not None and self.state.label not in ("", "mean face") and self.editor is not None \
                and self.state.label in self.editor.identities:
            stem = self.state.label
        else:
            stem = "face"
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
        return stem + suffix

    # -- view modes --------------------------------------------------------------------------------
    def set_colour_mode(self, mode: str) -> None:
        """"plain", "correspondence" or "error" (the current face's fit error; kept as it is while the face is
        not a fitted one)."""
        if mode not in COLOUR_MODES:
            raise ValueError(f"unknown colour mode {mode!r}")
        if mode == "error" and self.fit is None:
            self._emit("view", what="colour_mode")  # (refused: the view shows the mode as it is)
            return
        self._error_paused = False  # the user's choice, from now on
        self._set_colour_mode(mode)

    def _set_colour_mode(self, mode: str) -> None:
        self.colour_mode = mode
        self._emit("view", what="colour_mode")

    def set_scan_mode(self, mode: str) -> None:
        if mode not in SCAN_MODES:
            raise ValueError(f"scan mode must be one of {tuple(SCAN_MODES)}, got {mode!r}")
        self.scan_mode = mode
        self._emit("view", what="scan_mode")

    def set_landmarks_visible(self, on: bool) -> None:
        self.show_landmarks = bool(on)
        self._emit("view", what="landmarks")

    def set_quality(self, resolution: int) -> None:
        self.quality = int(resolution)
        self._emit("view", what="quality")

    # -- sessions ----------------------------------------------------------------------------------
    def session(self) -> Session:
        """The current face and view as a session (needs a model)."""
        codes = self.space.codes(self.state)
        return Session(
            self.state,
            {k: [float(x) for x in v] for k, v in codes.as_dict().items()},
            model=str(self.editor.path),
            view={"colour_mode": self.colour_mode, "landmarks": self.show_landmarks, "quality": self.quality,
                  "scan_mode": self.scan_mode},
            timeline=self.timeline,
        )

    def save_session(self, path: Path | str) -> Path:
        """Write the session (``OSError`` when it cannot be written; an old file stays as it was)."""
        return save_session(Path(path), self.session())

    def open_session(self, path: Path | str) -> None:
        """Open a session file: its face and timeline (one undo step) and the view settings it names.

        Raises ``SessionError`` (naming the file) and changes nothing when the file or its face cannot be used.
        """
        path = Path(path)
        session = load_session(path)
        state = session_state(session, self.space, self.editor.model.check_codes, path)
        timeline = session_timeline(session, self.space, self.editor.model.check_codes, path, state)
        view = session.view
        if isinstance(view.get("quality"), int) and 16 <= view["quality"] <= 512:
            self.quality = view["quality"]
            self._emit("view", what="quality", remesh=False)  # the face below is meshed at this quality
        if timeline != self.timeline:
            self.flush()
            self.timeline = timeline
            self._emit("timeline")
        self.set_state(state)
        if view.get("colour_mode") in COLOUR_MODES:
            self.set_colour_mode(view["colour_mode"])
        if isinstance(view.get("landmarks"), bool):
            self.set_landmarks_visible(view["landmarks"])
        if view.get("scan_mode") in SCAN_MODES:
            self.set_scan_mode(view["scan_mode"])
