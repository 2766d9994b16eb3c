"""Learn a model's face region from the prepared training scans it was trained on, and store it in its file.

Each scan's surface points (what training read) go to template space with that scan's own training codes;
``engine.region.FaceRegion.learn`` turns them into the share of scans covering each template voxel. Every mesh
of the model is then cut to where at least half of the scans had surface (``FaceModel.mesh``, the editor).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from imface_core.checkpoint import store_in_model
from imface_core.data.dataset import list_scans
from imface_core.data.prepared import load_prepared
from imface_core.engine.field import FaceField
from imface_core.engine.region import FaceRegion
from imface_core.errors import DatasetError

__all__ = ["learn_face_region", "store_face_region"]


def learn_face_region(model, data_dir: str | Path, points_per_scan: int = 8_000, max_scans: int | None = None,
                      seed: int = 0, progress: Callable[[int, int], None] | None = None) -> FaceRegion:
    """The region of the scans in ``data_dir`` that ``model`` was trained on (matched by identity and
    expression; scans the model does not know are skipped). ``max_scans`` spreads a subset over the people."""
    known = {(s["identity"], s["expression"]) for s in model.scans}
    scans = [s for s in list_scans(data_dir) if (s.identity, s.expression) in known]
    if not scans:
        raise DatasetError(f"none of the scans in `{data_dir}` is one `{model.path}` was trained on "
                           "(identity and expression names differ): give the model's own data folder")
    rng = np.random.default_rng(seed)
    if max_scans is not None and len(scans) > max_scans:
        scans = [scans[i] for i in np.sort(rng.choice(len(scans), max_scans, replace=False))]

    def clouds():
        for n, scan in enumerate(scans):
            points = load_prepared(scan.path, ("surface_points",))["surface_points"]
            if len(points) > points_per_scan:
                points = points[rng.choice(len(points), points_per_scan, replace=False)]
            yield FaceField(model, model.codes(scan.identity, scan.expression), detail=False).warp(points)
            if progress is not None:
                progress(n + 1, len(scans))

    return FaceRegion.learn(clouds())


def store_face_region(model_path: str | Path, region: FaceRegion, out_path: str | Path | None = None) -> Path:
    """Write ``model_path``'s checkpoint with ``region`` to ``out_path`` (default: in place, atomically)."""
    return store_in_model(model_path, {"face_region": region.to_state()}, out_path)
