"""The frame an exported face is written in: the model's, or a fitted scan's own (no Qt, no torch).

A face fitted to a scan can be written where the scan lies (its own frame and millimetres), so it overlays
the scan in any other program, the way ``imface fit`` writes its mesh: the same transform,
``imface_core.fitting.align.Alignment.to_scan`` of the fit's alignment (the initial alignment refined by the
fit's pose). Every file says which frame it is in: a comment line in the OBJ (``# ...``) or the PLY header
(``comment ...``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imface_core.data.normalize import NOSE_OFFSET_MM, SCALE_MM

if TYPE_CHECKING:
    import trimesh

    from imface_core.fitting.align import Alignment

__all__ = ["ExportFrame", "MODEL_FRAME", "OBJ_COLOUR_NOTE", "alignment_from_matrix", "frame_comment_lines",
           "scan_frame", "with_comments", "write_in_frame"]

OBJ_COLOUR_NOTE = ("vertex colours: 'v x y z r g b' lines, r g b from 0 to 1 (a common OBJ extension that "
                   "MeshLab, Blender and trimesh read; PLY is the standard coloured format)")


@dataclass(frozen=True)
class ExportFrame:
    """Where an exported face's vertices are put.

    ``alignment``: scan millimetres -> model units of a fit (``FitOutcome.alignment``); None: the model's frame.
    """

    name: str
    """"model" or "scan"."""
    description: str
    """One line for the file's comment and the export dialog."""
    alignment: "Alignment | None" = None

    def to_mm(self, vertices: np.ndarray) -> np.ndarray:
        """(V, 3) model units -> millimetres in this frame."""
        v = np.asarray(vertices, dtype=np.float64)
        return v * SCALE_MM if self.alignment is None else np.asarray(self.alignment.to_scan(v), dtype=np.float64)


MODEL_FRAME = ExportFrame(
    "model", f"frame: the face model's, millimetres, nose tip at (0, 0, {NOSE_OFFSET_MM:g}), +y up, +z to the viewer")


def scan_frame(alignment: "Alignment", scan_name: str) -> ExportFrame:
    """The frame of the scan ``scan_name`` a fit with ``alignment`` was made on."""
    return ExportFrame("scan", f"frame: the scan {scan_name}'s own, millimetres (overlays the scan)", alignment)


def alignment_from_matrix(matrix: np.ndarray) -> "Alignment":
    """The ``Alignment`` whose ``matrix`` (4x4, scan mm -> model units, as sessions keep it) is ``matrix``: a fit
    read back from a session exports in its scan's frame too."""
    from imface_core.fitting.align import Alignment

    m = np.asarray(matrix, dtype=np.float64)
    linear = m[:3, :3] * SCALE_MM
    scale = float(np.cbrt(np.linalg.det(linear)))
    if not scale > 0:
        raise ValueError("not a scan-to-model similarity transform (its determinant is not positive)")
    return Alignment(linear / scale, m[:3, 3] * SCALE_MM, scale)


def frame_comment_lines(frame: ExportFrame, colours: bool, file_type: str) -> list[str]:
    """The comment lines an export in ``frame`` starts with."""
    lines = ["ImFace Studio face", frame.description]
    if colours and file_type.lower().lstrip(".") == "obj":
        lines.append(OBJ_COLOUR_NOTE)
    return lines


def with_comments(data: bytes, file_type: str, lines: list[str]) -> bytes:
    """``data`` (an OBJ or a PLY file) with ``lines`` as comments: OBJ ``# ...`` lines first, PLY ``comment ...``
    lines right after the header's ``format`` line (where the PLY format allows them)."""
    file_type = file_type.lower().lstrip(".")
    text = [line.replace("\n", " ") for line in lines]
    if file_type == "obj":
        return "".join(f"# {line}\n" for line in text).encode("utf-8") + data
    if file_type == "ply":
        head, sep, rest = data.partition(b"\n")  # "ply"
        fmt, sep2, body = rest.partition(b"\n")  # "format binary_little_endian 1.0"
        if head.strip() != b"ply" or not fmt.startswith(b"format") or not sep or not sep2:
            raise ValueError("not a PLY file: cannot add the frame comment")
        comments = "".join(f"comment {line}\n" for line in text).encode("ascii", "replace")
        return head + b"\n" + fmt + b"\n" + comments + body
    raise ValueError(f"unsupported mesh format `{file_type}`: use .obj or .ply")


def write_in_frame(mesh: "trimesh.Trimesh", path: Path, frame: ExportFrame, colours: bool) -> Path:
    """Write ``mesh`` (model units, with its colours when it has them) to ``path`` in ``frame``, millimetres,
    with the frame comment, atomically."""
    from imface_core.engine.export import mesh_bytes
    from imface_core.io_utils import atomic_write_bytes

    out = mesh.copy()
    out.vertices = frame.to_mm(mesh.vertices)
    data = mesh_bytes(out, path.suffix)
    atomic_write_bytes(path, with_comments(data, path.suffix, frame_comment_lines(frame, colours, path.suffix)))
    return path
