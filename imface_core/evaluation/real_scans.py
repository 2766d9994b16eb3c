"""Real scans in ``imface eval``: each fitted without landmarks like any user's scan, scored against its own frontal
surface, overall and per face region.

The ground truth of a real scan is what ``imface fit`` scores against: the scan's pseudo-watertight frontal surface
inside the model's crop, in the scan's millimetres. The face regions (eyes, nose, mouth, cheeks, forehead) are the
editor's regions (``local_edit.REGIONS``, defined in template space from the template's 68 landmarks, the two eyes
and the two cheeks each taken together): every sample of the scan's surface takes the template coordinates of the
full model's fitted surface nearest to it, and belongs to the region whose mask is largest there (at least one
half); the rest of the face counts only overall. A region's error, for every method alike, is the mean distance
from its samples to that method's fitted surface (mm; without the overall score's ICP, which moves a fit by a few
hundredths of a mm).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imface_core.fitting.scan_io import MESH_SUFFIXES

FACE_REGIONS = {"eyes": ("eye_r", "eye_l"), "nose": ("nose",), "mouth": ("mouth",),
                "cheeks": ("cheek_r", "cheek_l"), "forehead": ("forehead",)}
"""The regions reported, each the union of the editor's regions named."""
REGION_SAMPLES = 50_000
"""Samples of the scan's surface that the regions' errors are averaged over."""


def real_scan_paths(folder: str | Path) -> list[Path]:
    """The mesh files of ``folder`` (not its sub-folders), sorted by name; FileNotFoundError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"real-scan folder not found: `{folder}`")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MESH_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"`{folder}` holds no scans ({', '.join(MESH_SUFFIXES)})")
    return paths


def region_labels(model, codes, fitted: tuple[np.ndarray, np.ndarray], fitted_mm: np.ndarray,
                  points_mm: np.ndarray) -> np.ndarray:
    """(P,) the face region (an index into ``FACE_REGIONS``, -1 for none) of each point (mm) of a scan's surface,
    from the template coordinates of the nearest vertex of the fitted surface (``fitted``: normalised units, the
    frame of ``codes``; ``fitted_mm``: the same vertices in the scan's millimetres)."""
    from scipy.spatial import cKDTree

    from imface_core.engine.field import FaceField
    from imface_core.local_edit import REGIONS, region_anchors, region_weight

    vertices = np.asarray(fitted[0], dtype=np.float32)
    x_t = FaceField(model, codes, detail=False).template_coords(vertices)
    template68 = model.net.template_landmarks68.detach().cpu().numpy()
    weights = np.zeros((len(vertices), len(FACE_REGIONS)))
    for k, names in enumerate(FACE_REGIONS.values()):
        for name in names:
            r = REGIONS[name]
            weights[:, k] = np.maximum(weights[:, k],
                                       region_weight(x_t.astype(np.float64), region_anchors(name, template68),
                                                     r.inner, r.outer))
    label = np.where(weights.max(axis=1) >= 0.5, weights.argmax(axis=1), -1)
    _, nearest = cKDTree(np.asarray(fitted_mm, dtype=np.float64)).query(points_mm, k=1, workers=-1)
    return label[nearest]


def region_errors(points_mm: np.ndarray, labels: np.ndarray, mesh_mm: tuple[np.ndarray, np.ndarray]
                  ) -> dict[str, float]:
    """Mean distance (mm) from the points of each region to ``mesh_mm``; regions without points are left out."""
    from imface_core.metrics import surface_distance

    d = surface_distance(points_mm, mesh_mm)
    return {name: float(d[labels == k].mean()) for k, name in enumerate(FACE_REGIONS) if (labels == k).any()}
