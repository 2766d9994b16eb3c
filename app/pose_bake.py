"""Keyframe faces baked in the background: each keyframe's face carried into the model's template topology
(``FaceModel.mesh(..., topology="template")``), its vertex positions and normals kept for playback (no Qt).

Baking is the slow part of an animation (a full-detail template-topology face per keyframe: seconds each on a
2-core CPU); playback only blends the baked arrays. Faces are kept by their codes (``codes_key``), detail
strength and template resolution, so a keyframe moved in time, undone and redone, or set twice to the same
expression is not baked again; a change of the person (identity, details) bakes every keyframe again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from imface_core.face_codes import codes_key

if TYPE_CHECKING:
    from imface_core.face_codes import FaceCodes

__all__ = ["BakedFace", "Pose", "PoseBaker", "pose_key"]

_log = logging.getLogger(__name__)

KEEP_FACES = 64
"""Baked faces kept beyond those the timeline uses (older ones are forgotten first)."""


def pose_key(codes: "FaceCodes", detail_scale: float, resolution: int) -> str:
    """What a baked face depends on, as a string."""
    return f"{codes_key(codes)}:{float(detail_scale)!r}:{int(resolution)}"


@dataclass(frozen=True)
class BakedFace:
    """One keyframe's face in the template topology (normalised units)."""

    positions: np.ndarray
    """(V, 3) float32."""
    normals: np.ndarray
    """(V, 3) float32 unit vertex normals (area-weighted)."""


@dataclass(frozen=True)
class Pose:
    """A face to bake: its key (``pose_key``), codes and detail strength."""

    key: str
    codes: Any
    detail_scale: float


class PoseBaker:
    """Bakes poses one after another on one background task; a new request replaces the running one.

    Args:
        start_task: ``start_task(fn, on_done, on_error, name)`` -> a task with ``cancel()`` (``TaskGroup.start``:
            the callbacks come back on the owner's thread).
        post: ``post(fn)`` runs ``fn()`` on the owner's thread (each face is stored there as soon as it is done).
        on_change: called (owner's thread) when a face was stored, a bake started or ended.
    """

    def __init__(self, start_task: Callable, post: Callable[[Callable[[], Any]], None], on_change: Callable[[], None]):
        self._start_task = start_task
        self._post = post
        self._on_change = on_change
        self.faces: dict[str, BakedFace] = {}
        self.triangles: np.ndarray | None = None
        """(F, 3) int64 of the template topology (the same for every face of a model and resolution)."""
        self.colors: np.ndarray | None = None
        """(V, 3) uint8 correspondence colours of the topology's vertices."""
        self.task = None
        self._baking: list[str] = []
        self.done = 0
        """Faces of the running bake finished so far (``len(baking)`` in all)."""
        self.error: str | None = None
        """Why the last bake failed, or None."""
        self._generation = 0

    def clear(self) -> None:
        """Forget every face (another model); a running bake is cancelled."""
        self.cancel()
        self.faces.clear()
        self.triangles = self.colors = None

    def cancel(self) -> None:
        self._generation += 1
        if self.task is not None:
            self.task.cancel()
        self.task, self._baking, self.done = None, [], 0

    def request(self, model, poses: list[Pose], resolution: int) -> None:
        """Bake those of ``poses`` that are not baked yet (in order), unless the running bake does just that."""
        wanted = {p.key for p in poses}
        if len(self.faces) > len(wanted) + KEEP_FACES:
            for key in [k for k in self.faces if k not in wanted][: len(self.faces) - len(wanted) - KEEP_FACES]:
                del self.faces[key]
        missing, seen = [], set()
        for p in poses:
            if p.key not in self.faces and p.key not in seen:
                missing.append(p)
                seen.add(p.key)
        if [p.key for p in missing] == self._baking[self.done:] and (missing or self.task is None):
            return
        self.cancel()
        if not missing:
            self._on_change()
            return
        self.error = None
        self._baking = [p.key for p in missing]
        generation = self._generation
        post = self._post
        need_topology = self.triangles is None

        def work(cancel) -> int:
            from app.polydata import area_weighted_normals
            from imface_core.engine.colors import correspondence_colors
            from imface_core.engine.template_topology import template_face_mesh, template_topology

            extra = None
            if need_topology:
                topology = template_topology(model, resolution, cancel=cancel)
                extra = (topology.faces, correspondence_colors(topology.targets))
            for k, pose in enumerate(missing):
                mesh = template_face_mesh(model, pose.codes, resolution, detail_scale=pose.detail_scale,
                                          cancel=cancel)
                v = np.ascontiguousarray(mesh.vertices, dtype=np.float32)
                f = np.asarray(mesh.faces, dtype=np.int64)
                face = BakedFace(v, area_weighted_normals(v, f))
                post(lambda key=pose.key, face=face, extra=extra if k == 0 else None:
                     self._store(generation, key, face, extra))
            return len(missing)

        self.task = self._start_task(work, lambda _n: self._finished(generation, None),
                                     lambda exc: self._finished(generation, exc), "keyframe-bake")
        self._on_change()

    def _store(self, generation: int, key: str, face: BakedFace, topology: tuple | None) -> None:
        if generation != self._generation:
            return
        if topology is not None:
            self.triangles, self.colors = topology
        self.faces[key] = face
        self.done += 1
        self._on_change()

    def _finished(self, generation: int, exc: BaseException | None) -> None:
        if generation != self._generation:
            return
        from imface_core.errors import Cancelled

        if exc is not None and not isinstance(exc, Cancelled):
            _log.warning("keyframe bake failed: %s", exc)
            self.error = str(exc) or type(exc).__name__
        self.task, self._baking, self.done = None, [], 0
        self._on_change()
