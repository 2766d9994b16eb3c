"""What the window asks of the background threads: mesh jobs and fit options (no Qt, no torch).

Built on the GUI thread, read on a worker thread: frozen, holding every input the slow part needs (napari's
slice requests). ``app.engine`` runs them; it re-exports both names.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from app.face_state import FaceState
from imface_core.settings import FitSettings

if TYPE_CHECKING:
    from imface_core.face_codes import FaceCodes

__all__ = ["FitOptions", "MeshJob"]

_job_ids = itertools.count(1)


@dataclass(frozen=True)
class MeshJob:
    """One request of the viewport, built on the GUI thread; ``job_id`` grows with every request and comes
    back with each mesh of it (``DisplayMesh.job``), so the GUI knows which edit a mesh belongs to."""

    state: FaceState
    codes: "FaceCodes"
    resolution: int
    preview_only: bool = False
    """Stop after the coarse preview (while a slider is being dragged)."""
    colors: bool = False
    """Correspondence colours on every mesh."""
    landmarks: bool = False
    fresh: bool = False
    """Search the whole grid (after a jump: random face, undo, session); else follow the last surface."""
    job_id: int = field(default_factory=lambda: next(_job_ids))
    created: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class FitOptions:
    steps: int = FitSettings.steps
    """Optimisation steps of the code fit (the same default as ``imface fit``)."""
    sample_points: int = 60_000
    """Surface samples taken from the scan."""
    mesh_resolution: int = 128
    """Resolution of the fitted mesh (metrics and error map)."""
    metrics: bool = False
    """Also compute Chamfer / F-score against the scan (slow; the error map already says how good the fit is)."""
