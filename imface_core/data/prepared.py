"""The prepared-scan file (``imface prep``'s ``.npz``): what training reads, stored compactly.

Format 2 (written now) keeps exactly what training, polishing and fitting read, in the
smallest types that keep their precision (normalised units, 1 = 100 mm; every point lies
inside the unit ball):

| key | type | error it adds |
| --- | --- | --- |
| ``surface_points_i16``, ``free_points_i16`` | int16 fixed point, step 1/32767 (0.003 mm) | <= 0.003 mm per coordinate (rms 0.0009) |
| ``surface_normals_i8``, ``free_grad_i8`` | int8, step 1/127 (a component's sign kept), unit length again on reading | <= 0.55 degree (mean 0.17) |
| ``free_sdf_f16`` | float16 (relative precision: finest near the surface) | <= 0.0004 mm for abs(sdf) < 1 mm, 0.025 mm far out |
| ``landmarks``, ``translation_mm`` | float32 | none |
| ``format`` | int32 scalar, 2 | |

Format 1 (older prepared folders: float32 ``surface_points``, ``surface_normals``,
``free_points``, ``free_sdf``, ``free_grad``, ``landmarks``) is read as before.
``load_prepared`` returns float32 arrays under the format-1 names for either.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FORMAT = 2
# 235k surface + 15k free points: 2.28 MB a scan (format 1: 6.06 MB); float16 positions would err 0.024 mm.
POSITION_STEP = 1.0 / 32767.0  # int16 fixed point over [-1, 1]
UNIT_STEP = 1.0 / 127.0  # int8 unit-vector components
SAMPLE_KEYS = ("surface_points", "surface_normals", "free_points", "free_sdf", "free_grad", "landmarks")
PACKED_KEYS = {
    "surface_points": "surface_points_i16",
    "surface_normals": "surface_normals_i8",
    "free_points": "free_points_i16",
    "free_sdf": "free_sdf_f16",
    "free_grad": "free_grad_i8",
    "landmarks": "landmarks",
}


def _positions(x: np.ndarray) -> np.ndarray:
    """Nearest int16 step; points inside the unit ball stay inside it (rounded towards 0 where needed)."""
    x = np.asarray(x, np.float64) / POSITION_STEP
    q = np.rint(x)
    inside = (np.linalg.norm(x, axis=-1) < 32767.0)[..., None]
    q = np.where(inside & (np.linalg.norm(q, axis=-1) >= 32767.0)[..., None], np.trunc(x), q)
    return np.clip(q, -32767, 32767).astype(np.int16)


def _units(n: np.ndarray) -> np.ndarray:
    """int8 components; a small nonzero one keeps its sign (a normal facing the viewer still does)."""
    n = np.asarray(n, np.float64)
    q = np.clip(np.rint(n / UNIT_STEP), -127, 127)
    q = np.where((q == 0) & (n != 0), np.sign(n), q)
    return q.astype(np.int8)


def _unit_vectors(q: np.ndarray) -> np.ndarray:
    v = q.astype(np.float32) * np.float32(UNIT_STEP)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), np.float32(1e-12))


def pack(surface_points, surface_normals, free_points, free_sdf, free_grad, landmarks, translation_mm) -> dict:
    """Arrays of a format-2 file (pass them to ``save_npz_atomic``)."""
    return {
        "format": np.int32(FORMAT),
        "surface_points_i16": _positions(surface_points),
        "surface_normals_i8": _units(surface_normals),
        "free_points_i16": _positions(free_points),
        "free_sdf_f16": np.asarray(free_sdf, np.float32).astype(np.float16),
        "free_grad_i8": _units(free_grad),
        "landmarks": np.asarray(landmarks, np.float32),
        "translation_mm": np.asarray(translation_mm, np.float32),
    }


def is_packed(files) -> bool:
    return "format" in files or "surface_points_i16" in files


def missing_keys(files, keys=SAMPLE_KEYS) -> list[str]:
    """Which of ``keys`` (format-1 names) a file lacks, in whichever format it is."""
    packed = is_packed(files)
    return [k for k in keys if (PACKED_KEYS[k] if packed else k) not in files]


def read_arrays(data, keys=SAMPLE_KEYS, rows: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """float32 arrays under the format-1 names from an open npz of either format.
    ``rows`` (optional) picks rows of some arrays before they are decoded."""
    rows = rows or {}
    out = {}
    packed = is_packed(data.files)
    for k in keys:
        a = data[PACKED_KEYS[k] if packed else k]
        if k in rows:
            a = a[rows[k]]
        if not packed or k == "landmarks":
            out[k] = np.asarray(a, dtype=np.float32)
        elif k in ("surface_points", "free_points"):
            out[k] = a.astype(np.float32) * np.float32(POSITION_STEP)
        elif k in ("surface_normals", "free_grad"):
            out[k] = _unit_vectors(a)
        else:
            out[k] = a.astype(np.float32)
    return out


def load_prepared(path: str | Path, keys=SAMPLE_KEYS) -> dict[str, np.ndarray]:
    """The samples of one prepared scan as float32 arrays (format-1 names), either format."""
    with np.load(path) as data:
        return read_arrays(data, keys)
