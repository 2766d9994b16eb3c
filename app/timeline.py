"""The timeline: keyframes of the face's expression at frames of an animation (no Qt).

A ``Timeline`` is an immutable value, like ``FaceState``, so the document's undo history holds it beside the face
and a session file keeps it. Each ``Keyframe`` remembers the face it was set from; the animation takes only its
``ANIMATED_FIELDS`` (the expression sliders, and the region edits where the face has them) and puts them on the
current face, so one animation plays on whichever person is being edited. Between two baked faces the editor
and the exports blend the two meshes (``imface_core.keyframes``); ``inbetween`` adds baked faces of the
interpolated expression every n frames between keyframes (``samples``), so the blends span fewer frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from app.face_state import FaceState
from imface_core.keyframes import segment

__all__ = ["ANIMATED_FIELDS", "DEFAULT_END", "FPS_CHOICES", "INBETWEEN_CHOICES", "Keyframe", "Timeline"]

ANIMATED_FIELDS = tuple(f.name for f in fields(FaceState)
                        if f.name in ("exp_coeffs", "exp_residual", "exp_mix", "regions"))
"""The ``FaceState`` fields a keyframe sets: the expression (principal-direction and named sliders, the residual
of a fitted expression) and the local region edits. Identity and details are the current face's."""
FPS_CHOICES = (24, 25, 30)
INBETWEEN_CHOICES = (0, 12, 6, 3, 1)
"""Frames between baked in-between faces (0: the keyframes only)."""
DEFAULT_END = 96
"""Frames of a new timeline (4 s at 24 fps)."""


@dataclass(frozen=True)
class Keyframe:
    """The face ``state`` at ``frame`` (only its ``ANIMATED_FIELDS`` are animated)."""

    frame: int
    state: FaceState

    def apply(self, face: FaceState) -> FaceState:
        """``face`` with this keyframe's expression (and region edits)."""
        return replace(face, **{name: getattr(self.state, name) for name in ANIMATED_FIELDS})

    def to_dict(self) -> dict[str, Any]:
        return {"frame": self.frame, "state": self.state.to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> "Keyframe":
        """Inverse of ``to_dict``; ``ValueError`` naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("a keyframe must be a mapping")
        return cls(_frame(data.get("frame"), "keyframe `frame`"), FaceState.from_dict(data.get("state")))


def _frame(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a whole number of frames from 0, got {value!r}")
    return value


@dataclass(frozen=True)
class Timeline:
    """Keyframes in frame order (at most one per frame), the frame rate and the last frame of the animation."""

    keys: tuple[Keyframe, ...] = ()
    fps: int = FPS_CHOICES[0]
    end: int = DEFAULT_END
    inbetween: int = 0
    """Bake a face of the interpolated expression every this many frames between keyframes (0: none)."""

    def __post_init__(self) -> None:
        frames = [k.frame for k in self.keys]
        if frames != sorted(set(frames)):
            raise ValueError(f"keyframes must be in frame order, one per frame: {frames}")
        if self.fps not in FPS_CHOICES:
            raise ValueError(f"frame rate {self.fps!r}: one of {FPS_CHOICES}")
        if self.inbetween not in INBETWEEN_CHOICES:
            raise ValueError(f"in-betweens every {self.inbetween!r} frames: one of {INBETWEEN_CHOICES}")
        if self.end < max(frames + [1]):
            raise ValueError(f"the animation ends at frame {self.end}, before its keyframe at frame {frames[-1]}")

    @property
    def frames(self) -> list[int]:
        return [k.frame for k in self.keys]

    @property
    def seconds(self) -> float:
        """Length of the animation (frame 0 to ``end``)."""
        return self.end / self.fps

    def key_at(self, frame: int) -> Keyframe | None:
        return next((k for k in self.keys if k.frame == frame), None)

    def with_key(self, frame: int, state: FaceState) -> "Timeline":
        """A keyframe of ``state`` at ``frame`` (replacing one there); the end moves out to it when needed."""
        frame = _frame(frame, "a keyframe's frame")
        keys = sorted([k for k in self.keys if k.frame != frame] + [Keyframe(frame, state)], key=lambda k: k.frame)
        return replace(self, keys=tuple(keys), end=max(self.end, frame))

    def without_key(self, frame: int) -> "Timeline":
        if self.key_at(frame) is None:
            raise ValueError(f"no keyframe at frame {frame}")
        return replace(self, keys=tuple(k for k in self.keys if k.frame != frame))

    def moved(self, frame: int, to: int) -> "Timeline":
        """The keyframe at ``frame`` moved to ``to`` (``ValueError`` when there is none, or one at ``to``)."""
        key = self.key_at(frame)
        if key is None:
            raise ValueError(f"no keyframe at frame {frame}")
        if to != frame and self.key_at(to) is not None:
            raise ValueError(f"frame {to} has a keyframe already")
        return self.without_key(frame).with_key(to, key.state)

    def with_fps(self, fps: int) -> "Timeline":
        return replace(self, fps=int(fps))

    def with_end(self, end: int) -> "Timeline":
        return replace(self, end=int(end))

    def with_inbetween(self, every: int) -> "Timeline":
        return replace(self, inbetween=int(every))

    def samples(self) -> list[Keyframe]:
        """The faces to bake, in frame order: the keyframes and, with ``inbetween``, every ``inbetween``-th frame
        between two keyframes with the expression interpolated linearly (the codes are linear in the sliders,
        so this is the face of the interpolated codes; region edits are the earlier keyframe's)."""
        if not self.inbetween or len(self.keys) < 2:
            return list(self.keys)
        frames = np.asarray(self.frames, dtype=np.float64)
        out = []
        for a, b in zip(self.keys, self.keys[1:]):
            out.append(a)
            for frame in range(a.frame + self.inbetween, b.frame, self.inbetween):
                _, _, w = segment(frames, frame)
                out.append(Keyframe(frame, replace(a.state, **{
                    name: getattr(a.state, name) if name == "regions" else
                    tuple((1.0 - w) * x + w * y for x, y in zip(getattr(a.state, name), getattr(b.state, name)))
                    for name in ANIMATED_FIELDS})))
        return out + [self.keys[-1]]

    def to_dict(self) -> dict[str, Any]:
        return {"fps": self.fps, "end": self.end, "inbetween": self.inbetween, "keys": [k.to_dict() for k in self.keys]}

    @classmethod
    def from_dict(cls, data: Any) -> "Timeline":
        """Inverse of ``to_dict``; ``ValueError`` naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("`timeline` must be a mapping")
        keys = data.get("keys")
        if not isinstance(keys, list):
            raise ValueError("`timeline.keys` must be a list of keyframes")
        fps = data.get("fps")
        if not isinstance(fps, (int, float)) or isinstance(fps, bool) or not math.isfinite(fps):
            raise ValueError(f"`timeline.fps` must be a number, got {fps!r}")
        return cls(tuple(sorted((Keyframe.from_dict(k) for k in keys), key=lambda k: k.frame)), int(fps),
                   _frame(data.get("end"), "`timeline.end`"), _frame(data.get("inbetween", 0), "`timeline.inbetween`"))

    def key_times(self) -> np.ndarray:
        """(K,) seconds of the keyframes."""
        return np.asarray(self.frames, dtype=np.float64) / self.fps
