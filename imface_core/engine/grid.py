"""The dense-grid convention and the dense reference extraction.

A grid of resolution N has N samples per axis over [-1, 1], spaced 2 / (N - 1)
(256 samples are 2/255 apart), and index (i, j, k) is the point
(x_i, y_j, z_k) (``indexing='ij'``): array axis 0 is x, 1 is y, 2 is z.
Meshes come back in normalised units, outward normals (the SDF is negative
inside, behind the face).

``dense_mesh`` evaluates all N^3 points: it is the reference that the sparse
extraction must reproduce, and the baseline of ``imface bench``; never use it
on the interactive path.
"""

from __future__ import annotations

import numpy as np
import trimesh

from imface_core.engine.chunks import DEFAULT_CHUNK, CancelToken, Field, check_cancel, evaluate_in_chunks

__all__ = [
    "grid_axis",
    "grid_spacing",
    "grid_points",
    "indices_to_points",
    "volume_to_mesh",
    "dense_volume",
    "dense_mesh",
    "empty_mesh",
    "cube_mask_offset",
]


def grid_spacing(resolution: int) -> float:
    """Distance between neighbouring samples: 2 / (N - 1)."""
    _check_resolution(resolution)
    return 2.0 / (resolution - 1)


def grid_axis(resolution: int) -> np.ndarray:
    """(N,) float64 sample coordinates of one axis: -1 + 2 i / (N - 1)."""
    _check_resolution(resolution)
    return np.linspace(-1.0, 1.0, resolution)


def indices_to_points(ijk: np.ndarray, resolution: int) -> np.ndarray:
    """(M, 3) integer grid indices -> (M, 3) float32 points (same formula as ``grid_axis``)."""
    return (np.asarray(ijk, dtype=np.float64) * grid_spacing(resolution) - 1.0).astype(np.float32)


def grid_points(resolution: int) -> np.ndarray:
    """(N^3, 3) float32 points of the whole grid, in C order of an (N, N, N) ``indexing='ij'`` array."""
    a = grid_axis(resolution).astype(np.float32)
    x, y, z = np.meshgrid(a, a, a, indexing="ij")
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)


def empty_mesh() -> trimesh.Trimesh:
    return trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), process=False)


def volume_to_mesh(
    volume: np.ndarray,
    axes: tuple[np.ndarray, np.ndarray, np.ndarray],
    level: float = 0.0,
    cubes: np.ndarray | None = None,
) -> trimesh.Trimesh:
    """Marching cubes (skimage, Lewiner) of ``volume`` whose samples sit at ``axes`` (one array per axis).

    The axes may be non-uniform (the last cell of an octree level is shorter): marching cubes interpolates
    linearly along cell edges, so mapping fractional indices through the axes piecewise-linearly is exact.
    ``cubes`` (optional (M, 3) lower-corner indices) restricts the work to those cubes when skimage's mask
    convention is known (``cube_mask_offset``); otherwise every cube is processed. An empty surface gives an
    empty mesh.
    """
    from skimage.measure import marching_cubes

    vol = np.ascontiguousarray(volume, dtype=np.float32)
    if min(vol.shape) < 2 or not (vol.min() <= level <= vol.max()):
        return empty_mesh()
    mask = None
    offset = cube_mask_offset() if cubes is not None else None
    if offset is not None:
        mask = np.zeros(vol.shape, dtype=bool)
        idx = np.asarray(cubes, dtype=np.int64) + offset
        mask[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    try:
        verts, faces, _normals, _values = marching_cubes(vol, level, mask=mask)
    except RuntimeError:  # "No surface found at the given iso value."
        return empty_mesh()
    out = np.empty_like(verts, dtype=np.float64)
    for d in range(3):
        out[:, d] = np.interp(verts[:, d], np.arange(len(axes[d])), axes[d])
    return trimesh.Trimesh(out.astype(np.float32), faces.astype(np.int64), process=False)


_MASK_OFFSET: list = []


def cube_mask_offset() -> int | None:
    """How skimage's ``marching_cubes(mask=...)`` selects cubes: the cube with lower corner c is processed
    when ``mask[c + offset]`` is True. Probed once on a tiny volume (skimage 0.26 uses offset 1); None when
    the convention is neither 0 nor 1 (callers then process every cube)."""
    if not _MASK_OFFSET:
        from skimage.measure import marching_cubes

        vol = (np.indices((3, 3, 3)).sum(axis=0) % 2 * 2.0 - 1.0).astype(np.float32)  # every cube crossed
        found = None
        for offset in (1, 0):
            mask = np.zeros(vol.shape, dtype=bool)
            mask[offset, offset, offset] = True
            try:
                verts = marching_cubes(vol, 0.0, mask=mask)[0]
            except (RuntimeError, ValueError):
                continue
            if len(verts) and verts.min() >= 0.0 and verts.max() <= 1.0:
                found = offset
                break
        _MASK_OFFSET.append(found)
    return _MASK_OFFSET[0]


def dense_volume(
    field: Field, resolution: int, chunk: int = DEFAULT_CHUNK * 4, cancel: CancelToken | None = None
) -> np.ndarray:
    """Evaluate ``field`` at all N^3 grid points -> (N, N, N) float32 volume (the reference/baseline)."""
    n = resolution
    a = grid_axis(n).astype(np.float32)
    out = np.empty(n**3, dtype=np.float32)
    plane = n * n
    # A slab of whole x-planes per call keeps the point arrays small for large N.
    planes_per_call = max(1, chunk // plane)
    for i0 in range(0, n, planes_per_call):
        check_cancel(cancel)
        i1 = min(n, i0 + planes_per_call)
        x, y, z = np.meshgrid(a[i0:i1], a, a, indexing="ij")
        pts = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
        out[i0 * plane : i1 * plane] = evaluate_in_chunks(field, pts, chunk, cancel)
    return out.reshape(n, n, n)


def dense_mesh(
    field: Field, resolution: int, chunk: int = DEFAULT_CHUNK * 4, cancel: CancelToken | None = None
) -> trimesh.Trimesh:
    """Dense-grid marching cubes of ``field`` at ``resolution`` (normalised units)."""
    vol = dense_volume(field, resolution, chunk, cancel)
    a = grid_axis(resolution)
    return volume_to_mesh(vol, (a, a, a))


def _check_resolution(resolution: int) -> None:
    if int(resolution) != resolution or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
