"""Mesh export: OBJ or PLY (with vertex colours), in millimetres or normalised units, written atomically.

The model's normalised frame (method.md section 4) has the nose tip at (0, 0, 0.4) and 1 unit = 100 mm;
the millimetre frame is that frame x 100, minus an optional translation (e.g. (0, 0, 40) puts the nose tip
at the origin, like the raw scans). Axes: x to the subject's left, y up, +z towards the viewer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

from imface_core.io_utils import atomic_write_bytes

__all__ = ["MM_PER_UNIT", "UNITS", "to_units", "export_mesh", "mesh_bytes", "mesh_file_bytes"]

MM_PER_UNIT = 100.0
UNITS = ("mm", "normalised")
FORMATS = ("obj", "ply")


def to_units(mesh: trimesh.Trimesh, units: str = "mm", translation_mm=None) -> trimesh.Trimesh:
    """A copy of ``mesh`` (normalised units) in ``units``; ``translation_mm`` (3,) is subtracted in mm."""
    if units not in UNITS:
        raise ValueError(f"units must be one of {UNITS}, got {units!r}")
    out = mesh.copy()
    v = np.asarray(mesh.vertices, dtype=np.float64)
    if units == "mm":
        v = v * MM_PER_UNIT
        if translation_mm is not None:
            v = v - np.asarray(translation_mm, dtype=np.float64).reshape(1, 3)
    elif translation_mm is not None:
        v = v - np.asarray(translation_mm, dtype=np.float64).reshape(1, 3) / MM_PER_UNIT
    out.vertices = v
    return out


def mesh_bytes(mesh: trimesh.Trimesh, file_type: str) -> bytes:
    """The file content of ``mesh`` as OBJ (text, vertex colours as extra v columns) or binary PLY."""
    file_type = file_type.lower().lstrip(".")
    if file_type not in FORMATS:
        raise ValueError(f"unsupported mesh format `{file_type}`: use .obj or .ply")
    has_colors = mesh.visual.kind == "vertex"
    if file_type == "ply":
        data = mesh.export(file_type="ply", encoding="binary", include_attributes=False)
    else:
        data = mesh.export(file_type="obj", include_color=has_colors, include_normals=False, include_texture=False)
    return data if isinstance(data, bytes) else data.encode("utf-8")


def mesh_file_bytes(resolution: int, file_type: str = "obj") -> int:
    """A generous estimate of a face mesh's file size at ``resolution`` (for free-space checks before work):
    a face has about 2.5 N^2 vertices and twice as many triangles; OBJ text takes up to ~110 bytes per vertex
    with colours, binary PLY 38."""
    per_vertex = 38 if file_type.lower().lstrip(".") == "ply" else 110
    return int(2.5 * resolution**2 * per_vertex)


def export_mesh(mesh: trimesh.Trimesh, path: str | Path, units: str = "mm", translation_mm=None) -> Path:
    """Write ``mesh`` (normalised units) to ``path`` (.obj or .ply by suffix) in ``units``, atomically."""
    path = Path(path)
    data = mesh_bytes(to_units(mesh, units, translation_mm), path.suffix)
    atomic_write_bytes(path, data)
    return path
