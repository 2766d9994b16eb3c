"""A fit kept in a session: made from a finished fit, and made back into one when the session opens (no Qt).

A session keeps the scan by path and SHA-256 (taken when the fit finished), never its geometry, plus the fit's
alignment (the 4x4 scan millimetres -> model units), codes and error map. ``restore_fit`` reads the scan again, checks
its checksum and gives back the ``FitOutcome`` (overlay, error map, codes, alignment) without fitting. A scan
that moved, changed or no longer reads raises ``FitNotRestored`` with a sentence for the user; the session then
opens without the overlay.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.session import SavedFit

if TYPE_CHECKING:
    from app.engine import FitOutcome

__all__ = ["FitNotRestored", "file_sha256", "restore_fit", "saved_fit"]


class FitNotRestored(Exception):
    """A session's fit cannot be kept or shown again (its scan moved, changed or does not read); the message
    says which, in words for the user."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def saved_fit(outcome: "FitOutcome", scan_sha256: str | None) -> SavedFit:
    """``outcome`` as a session keeps it; ``scan_sha256``: of its scan file when it was fitted (None: unknown,
    the file could not be read then). ``FitNotRestored`` when the fit cannot be kept."""
    path = Path(outcome.path).resolve()
    if scan_sha256 is None:
        raise FitNotRestored(f"The scan {path.name} could not be read after the fit.")
    if outcome.alignment is None:
        raise FitNotRestored(f"The fit of {path.name} does not say where the scan lies.")
    return SavedFit(
        str(path), scan_sha256, outcome.alignment.matrix,
        {k: [float(x) for x in v] for k, v in outcome.codes.as_dict().items()},
        np.asarray(outcome.errors_mm, dtype=np.float32), dict(outcome.stats), outcome.chamfer_mm,
        list(outcome.warnings), float(outcome.seconds))


def restore_fit(saved: SavedFit) -> "FitOutcome":
    """The fit ``saved`` describes, its scan read from disk; ``FitNotRestored`` when the scan moved or changed."""
    from app.engine import FitOutcome
    from imface_core.face_codes import FaceCodes
    from app.export_frame import alignment_from_matrix
    from imface_core.fitting.scan_io import ScanError, load_scan

    path = Path(saved.scan_path)
    if not path.is_file():
        raise FitNotRestored(f"The fitted scan {path.name} is no longer at {path.parent}.")
    try:
        checksum = file_sha256(path)
    except OSError as exc:
        raise FitNotRestored(f"The scan {path.name} cannot be read ({exc.strerror or exc}).") from exc
    if checksum != saved.scan_sha256:
        raise FitNotRestored(f"The scan {path.name} changed since it was fitted.")
    try:
        scan = load_scan(path)  # as the fit read it (the fit's defaults)
    except ScanError as exc:
        raise FitNotRestored(f"The scan {path.name} could not be read again: {exc}") from exc
    if len(scan.vertices) != len(saved.errors_mm):
        raise FitNotRestored(f"The scan {path.name} reads as {len(scan.vertices)} points, not the "
                             f"{len(saved.errors_mm)} of the session's error map.")
    try:
        alignment = alignment_from_matrix(saved.scan_to_model)
    except ValueError as exc:
        raise FitNotRestored(f"The session's placement of {path.name} is not usable ({exc}).") from exc
    codes = FaceCodes(*(np.asarray(saved.codes[k], dtype=np.float32) for k in ("z_id", "z_exp", "z_det")))
    vertices = np.asarray(alignment.to_normalised(scan.vertices), dtype=np.float32)
    return FitOutcome(path, codes, vertices, scan.faces, saved.errors_mm.copy(), dict(saved.stats), saved.chamfer_mm,
                      list(saved.warnings), saved.seconds, alignment)
