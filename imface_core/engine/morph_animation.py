"""Keyframe animation of template-topology faces: where a time lies between two keyframes, the blend of their
faces, and the two files an animation is written to (a glTF animation of morph weights, a numbered OBJ sequence).

Every keyframe is a face in the model's template topology (``template_topology.py``: the same vertices for
every face), so a face between two keyframes is the linear blend of their vertex positions and normals::

    x(t) = (1 - a) x_i + a x_j,   a = (t - t_i) / (t_j - t_i)

The editor plays this back, the OBJ sequence writes it frame by frame, and the glTF file says the same to any
viewer: the first keyframe is the base mesh, every other keyframe a morph target, and the weights move
linearly from one keyframe's target to the next (``keyframe_weights``), which is that blend exactly. What
lies between two keyframes is therefore a blend of their meshes, not the mesh of their blended codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from imface_core.engine.chunks import CancelToken
from imface_core.engine.export import MM_PER_UNIT
from imface_core.engine.rig import MorphAnimation, Rig, rig_glb_bytes
from imface_core.errors import Cancelled

__all__ = ["KeyframeFaces", "animation_glb_bytes", "blend", "keyframe_weights", "segment", "write_obj_sequence"]


def segment(times: np.ndarray, t: float) -> tuple[int, int, float]:
    """(i, j, a): ``t`` lies between keyframes i and j = i + 1 of the increasing ``times``, a of the way from
    i to j; before the first keyframe it is (0, 0, 0), after the last (n - 1, n - 1, 0). Raises ``ValueError``
    for no keyframes."""
    times = np.asarray(times, dtype=np.float64)
    n = len(times)
    if n == 0:
        raise ValueError("an animation needs at least one keyframe")
    if t <= times[0]:
        return 0, 0, 0.0
    if t >= times[-1]:
        return n - 1, n - 1, 0.0
    j = int(np.searchsorted(times, t, side="right"))
    i = j - 1
    return i, j, float((t - times[i]) / (times[j] - times[i]))


def blend(poses: np.ndarray, i: int, j: int, a: float, unit: bool = False) -> np.ndarray:
    """(V, 3) float32 ``(1 - a) poses[i] + a poses[j]`` of (K, V, 3) poses; ``unit``: each row scaled to length
    1 (normals)."""
    if a == 0.0:
        out = np.array(poses[i], dtype=np.float32)
    else:
        out = (1.0 - a) * poses[i] + a * poses[j]
    if unit:
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return np.asarray(out, dtype=np.float32)


@dataclass
class KeyframeFaces:
    """The faces of an animation's keyframes, in one topology (normalised units)."""

    faces: np.ndarray
    """(F, 3) int64 triangles."""
    positions: np.ndarray
    """(K, V, 3) float32 vertex positions of each keyframe's face."""
    normals: np.ndarray
    """(K, V, 3) float32 unit vertex normals."""
    times: np.ndarray
    """(K,) seconds of the keyframes, increasing."""
    names: list[str]
    """A name per keyframe (the glTF morph targets')."""

    def __post_init__(self) -> None:
        k = len(self.times)
        if self.positions.shape[0] != k or self.normals.shape != self.positions.shape or len(self.names) != k:
            raise ValueError(f"{k} keyframe times, {self.positions.shape[0]} faces, {len(self.names)} names")
        if k and np.any(np.diff(self.times) <= 0):
            raise ValueError("keyframe times must increase")

    def at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """(positions, unit normals) at ``t`` seconds (the blend of the module doc)."""
        i, j, a = segment(self.times, t)
        return blend(self.positions, i, j, a), blend(self.normals, i, j, a, unit=True)


def keyframe_weights(n_keys: int) -> np.ndarray:
    """(K, K - 1) morph weights at each keyframe: key 0 is the base mesh (all weights 0), key k >= 1 the target
    k - 1 alone. Linear interpolation of these weights between two keyframes is the blend of their faces."""
    weights = np.zeros((n_keys, max(n_keys - 1, 0)), dtype=np.float32)
    if n_keys > 1:
        weights[np.arange(1, n_keys), np.arange(n_keys - 1)] = 1.0
    return weights


def animation_glb_bytes(keys: KeyframeFaces, name: str = "face", extras: dict | None = None) -> bytes:
    """The animation as one glTF 2.0 binary: the first keyframe's face, one morph target per later keyframe and
    an animation of the morph weights (LINEAR, ``keyframe_weights`` at the keyframe times). Raises
    ``ValueError`` for fewer than two keyframes (nothing moves)."""
    if len(keys.times) < 2:
        raise ValueError("an animation needs at least two keyframes")
    p0, n0 = keys.positions[0], keys.normals[0]
    targets = {keys.names[k]: (keys.positions[k] - p0, keys.normals[k] - n0) for k in range(1, len(keys.times))}
    info = {"animation": "keyframe faces blended linearly: base = the first keyframe, one morph target per later "
                         "keyframe", "keyframes": len(keys.times)}
    rig = Rig(np.asarray(p0, dtype=np.float32), keys.faces, np.asarray(n0, dtype=np.float32), targets, info=info)
    animation = MorphAnimation(np.asarray(keys.times, dtype=np.float32), keyframe_weights(len(keys.times)))
    return rig_glb_bytes(rig, name=name, extras=extras, animation=animation)


def write_obj_sequence(keys: KeyframeFaces, folder: str | Path, stem: str, fps: float, frames: int,
                       header: str = "", progress: Callable[[int, int], None] | None = None,
                       cancel: CancelToken | None = None) -> list[Path]:
    """Frames 0 .. ``frames`` - 1 (``fps`` per second) as ``stem_0000.obj``, ... in ``folder``: the blended
    face of each frame in millimetres (the model's frame), with vertex normals; ``header`` (lines) goes on top
    of every file. Each file is written whole or not at all; ``progress(k, frames)`` before each. Raises
    ``Cancelled`` (the files written so far stay) and ``OSError``."""
    from imface_core.io_utils import atomic_write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    f = np.asarray(keys.faces, dtype=np.int64) + 1
    faces_text = "\n".join(f"f {a}//{a} {b}//{b} {c}//{c}" for a, b, c in f.tolist())
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    written = []
    for k in range(int(frames)):
        if cancel is not None and cancel.is_set():
            raise Cancelled("the mesh sequence export was cancelled")
        if progress is not None:
            progress(k, int(frames))
        v, n = keys.at(k / float(fps))
        lines = [comment + f"# frame {k} of {frames}, {k / float(fps):.4f} s at {fps:g} fps; millimetres"]
        lines += [f"v {x:.4f} {y:.4f} {z:.4f}" for x, y, z in (v * MM_PER_UNIT).tolist()]
        lines += [f"vn {x:.5f} {y:.5f} {z:.5f}" for x, y, z in n.tolist()]
        path = folder / f"{stem}_{k:04d}.obj"
        atomic_write_text(path, "\n".join(lines) + "\n" + faces_text + "\n")
        written.append(path)
    return written
