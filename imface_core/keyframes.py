"""Keyframe faces of an animation and the blend between two of them (numpy only: the editor plays an animation
on its GUI thread, which never imports torch).

Every keyframe is a face in the model's template topology (the same vertices for every face), so a face between
two keyframes is the linear blend of their vertex positions and normals::

    x(t) = (1 - a) x_i + a x_j,   a = (t - t_i) / (t_j - t_i)

What lies between two keyframes is therefore a blend of their meshes, not the mesh of their blended codes.
``imface_core.engine.morph_animation`` writes the same blend to files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["KeyframeFaces", "blend", "keyframe_weights", "segment"]


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
