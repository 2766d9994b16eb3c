"""``fit_scan``: a scan file (or ``Scan``) in, codes + fitted mesh + metrics + error map out.

load -> align into the normalised frame -> crop / pseudo-watertight / sample (as prep)
-> staged code optimisation -> mesh (cropped to the scan's frontal footprint, mapped
back to the scan's frame in mm) -> Chamfer / F-score against the scan's frontal surface.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from imface_core.data.normalize import SCALE_MM
from imface_core.engine.chunks import check_cancel
from imface_core.engine.cleanup import largest_piece
from imface_core.face_codes import FaceCodes
from imface_core.fitting.align import AlignSettings, Alignment, align_scan
from imface_core.fitting.error_map import ErrorMap, error_map
from imface_core.fitting.mesh import Footprint, extract_mesh
from imface_core.fitting.optimize import CodeFit, FitProgress, FitSettings, fit_codes
from imface_core.fitting.samples import FitSamples, prepare_samples
from imface_core.fitting.scan_io import Scan, load_scan
from imface_core.metrics import SurfaceMetrics, chamfer_fscore
from imface_core.settings import TOPOLOGIES

logger = logging.getLogger(__name__)

POOR_FIT_CHAMFER_MM = 3.0
"""A final Chamfer above this is reported as a poor fit."""
COVERED_MM = 1.5
"""Scan vertices this close to their own frontal surface (inside the crop) are the ones the fit explains."""


@dataclass
class FitResult:
    """Everything a fit produced. Meshes are (vertices, faces); ``mesh_mm`` is in the scan's own frame."""

    codes: FaceCodes
    stage1_codes: FaceCodes
    alignment: Alignment
    """Scan mm -> the normalised frame of the codes (the initial alignment refined by the fit's pose)."""
    mesh: tuple[np.ndarray, np.ndarray]
    """Fitted surface in normalised units, cropped to the scan's footprint."""
    mesh_mm: tuple[np.ndarray, np.ndarray]
    """The same surface in the scan's frame, millimetres (overlays the scan)."""
    target_mm: tuple[np.ndarray, np.ndarray]
    """The scan's pseudo-watertight frontal surface in the scan's frame, mm (what was fitted)."""
    metrics: SurfaceMetrics | None
    code_fit: CodeFit
    timings: dict[str, float]
    scan: Scan
    samples: FitSamples
    warnings: list[str] = field(default_factory=list)
    initial_alignment: Alignment | None = None
    """The alignment to the mean face, before the fit's pose refinement: the frame of ``samples``."""
    _error_map: ErrorMap | None = None

    @property
    def error_map(self) -> ErrorMap:
        """Distance of every scan vertex to the fitted surface (mm; NaN where the fit does not cover it)."""
        if self._error_map is None:
            v = self.scan.vertices
            inside = np.linalg.norm(self.alignment.to_normalised(v), axis=1) < 1.0
            near_target = np.zeros(len(v), dtype=bool)
            if inside.any():
                from scipy.spatial import cKDTree

                from imface_core.metrics import sample_points

                tgt = sample_points(self.target_mm, 200_000, np.random.default_rng(0))
                d, _ = cKDTree(tgt).query(v[inside], k=1, workers=-1)
                near_target[np.flatnonzero(inside)] = d < COVERED_MM
            self._error_map = error_map(v, *self.mesh_mm, covered=near_target)
        return self._error_map

    def report(self) -> dict:
        """JSON-safe summary: stages, timings, metrics, alignment, warnings."""
        return {
            "scan": self.scan.source,
            "units": self.scan.units,
            "mm_per_unit": self.scan.mm_per_unit,
            "point_cloud": self.scan.is_point_cloud,
            "alignment": self.alignment.as_dict(),
            "initial_alignment": None if self.initial_alignment is None else self.initial_alignment.as_dict(),
            "stages": self.code_fit.stages,
            "steps": len(self.code_fit.history),
            "timings_s": self.timings,
            "metrics": None if self.metrics is None else self.metrics.as_dict(),
            "error_map": self.error_map.stats,
            "warnings": self.warnings,
        }


def _notify(progress, phase: str, elapsed: float, step: int = 0, steps: int = 0):
    if progress is not None:
        progress(FitProgress(step, steps, phase, float("nan"), float("nan"), elapsed))


def fit_scan(
    model,
    scan: Scan | str | Path,
    *,
    landmarks: str | Path | np.ndarray | None = None,
    units: str = "auto",
    settings: FitSettings = FitSettings(),
    align_settings: AlignSettings = AlignSettings(),
    mesh_resolution: int | None = 128,
    topology: str = "marching_cubes",
    sample_points: int = 60_000,
    progress: Callable[[FitProgress], None] | None = None,
    cancel=None,
    with_metrics: bool = True,
) -> FitResult:
    """Fit the model to a scan (see the module doc). ``progress`` also gets the non-optimisation phases
    (``load``, ``align``, ``samples``, ``mesh``, ``metrics``) with step 0. ``topology="template"``: the fitted
    mesh is the model's template mesh carried onto the fitted face (``FaceModel.mesh``; ``mesh_resolution`` is
    then the template mesh's, None for its default) instead of its marching-cubes surface cut to the scan.

    Raises ``ScanError`` for unusable input and ``errors.Cancelled`` when ``cancel`` (a ``threading.Event``) is set.
    """
    if topology not in TOPOLOGIES:
        raise ValueError(f"topology must be one of {TOPOLOGIES}, got {topology!r}")
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 3)
        return now

    _notify(progress, "load", 0.0)
    if not isinstance(scan, Scan):
        scan = load_scan(scan, units=units, landmarks=landmarks, seed=settings.seed)
    elif landmarks is not None:
        raise ValueError("pass landmarks inside the Scan when giving a Scan object")
    t = lap("load", t0)
    check_cancel(cancel, "fit")
    _notify(progress, "align", t - t0)
    alignment = align_scan(model, scan, align_settings)
    t = lap("align", t)
    check_cancel(cancel, "fit")
    _notify(progress, "samples", t - t0)
    v_norm = alignment.to_normalised(scan.vertices)
    lm = None if scan.landmarks is None else alignment.to_normalised(scan.landmarks)
    samples = prepare_samples(v_norm, scan.faces, surface_points=sample_points, seed=settings.seed, landmarks=lm,
                              source=scan.source)
    t = lap("samples", t)
    code_fit = fit_codes(model, samples, settings, progress=progress, cancel=cancel)
    t = lap("optimise", t)
    _notify(progress, "mesh", t - t0)
    initial, alignment = alignment, alignment.then(code_fit.pose)
    if topology == "template":
        carried = model.mesh(code_fit.codes, resolution=mesh_resolution, topology="template", cancel=cancel)
        mesh = (np.asarray(carried.vertices, dtype=np.float64), np.asarray(carried.faces, dtype=np.int64))
    else:
        mesh = fitted_mesh(model, code_fit.codes, model_frame_surface(samples, code_fit.pose),
                           128 if mesh_resolution is None else mesh_resolution, cancel=cancel)
    t = lap("mesh", t)
    warnings = list(scan.warnings)
    target_mm = (initial.to_scan(samples.surface_mesh[0]), samples.surface_mesh[1])
    mesh_mm = (alignment.to_scan(mesh[0]), mesh[1])
    metrics = None
    final_sdf = min(st.get("final_sdf_mm", np.inf) for st in code_fit.stages.values())
    if not with_metrics and final_sdf > POOR_FIT_CHAMFER_MM:
        msg = (f"poor fit: the scan's surface is {final_sdf:.2f} mm from the fitted surface on average "
               f"(expected < {POOR_FIT_CHAMFER_MM:g} mm); the scan may not be a face, may be in other units, "
               "or may be badly aligned")
        logger.warning(msg)
        warnings.append(msg)
    if with_metrics:
        check_cancel(cancel, "fit")
        _notify(progress, "metrics", t - t0)
        # An absurd fit (the optimisation's own error says so) gets a quick estimate first, and the full (and
        # then slow) §8 metric only if that contradicts it.
        metrics = None
        if final_sdf > POOR_FIT_CHAMFER_MM:
            metrics = chamfer_fscore(mesh_mm, target_mm, n_samples=20_000, seed=settings.seed)
        if metrics is None or metrics.chamfer_mm <= POOR_FIT_CHAMFER_MM:
            metrics = chamfer_fscore(mesh_mm, target_mm, seed=settings.seed)
        t = lap("metrics", t)
        if metrics.chamfer_mm > POOR_FIT_CHAMFER_MM:
            msg = (f"poor fit: Chamfer {metrics.chamfer_mm:.2f} mm to the scan (expected < {POOR_FIT_CHAMFER_MM:g} mm); "
                   "the scan may not be a face, may be in other units, or may be badly aligned")
            logger.warning(msg)
            warnings.append(msg)
    timings["total"] = round(time.perf_counter() - t0, 3)
    return FitResult(code_fit.codes, code_fit.stage1_codes, alignment, mesh, mesh_mm, target_mm, metrics, code_fit,
                     timings, scan, samples, warnings, initial)


def model_frame_surface(samples: FitSamples, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The samples' pseudo-watertight surface moved by a fit's ``pose`` (into the frame of its codes)."""
    v, f = samples.surface_mesh
    return np.asarray(v) @ pose[:3, :3].T + pose[:3, 3], f


def fitted_mesh(model, codes: FaceCodes, footprint_of: tuple[np.ndarray, np.ndarray], resolution: int = 128,
                detail: bool = True, cancel=None) -> tuple[np.ndarray, np.ndarray]:
    """The model's surface for ``codes`` (normalised units), inside the unit sphere and cropped to the
    (x, y) footprint of ``footprint_of`` (the scan's frontal surface); its largest piece."""
    v, f = extract_mesh(model, codes, resolution=resolution, detail=detail, cancel=cancel)
    inside = (np.linalg.norm(v[f].mean(axis=1), axis=1) < 1.0)
    v, f = v, f[inside]
    fp = Footprint(*footprint_of)
    v, f = fp.crop_mesh(v, f)
    if len(f) == 0:
        raise ValueError("the fitted surface does not cover the scan's footprint")
    return largest_piece(v, f)


def fit_output_paths(prefix: str | Path) -> dict[str, Path]:
    """The files ``save_fit`` writes for ``prefix``: mesh, codes and report (the report last)."""
    prefix = Path(prefix)
    return {"mesh": prefix.with_name(prefix.name + ".obj"), "codes": prefix.with_name(prefix.name + "_codes.npz"),
            "report": prefix.with_name(prefix.name + "_report.json")}


def save_fit(result: FitResult, prefix: str | Path) -> dict[str, Path]:
    """Write ``PREFIX.obj`` (fitted mesh, mm, scan frame), ``PREFIX_codes.npz`` and ``PREFIX_report.json``.

    The three land together (``io_utils.output_set``): a reader sees the old complete set or the new one, and
    a report always describes the mesh and codes beside it.
    """
    import trimesh

    from imface_core.io_utils import output_set

    paths = fit_output_paths(prefix)
    mesh = trimesh.Trimesh(*result.mesh_mm, process=False)
    data = mesh.export(file_type="obj")
    report = result.report()
    report["files"] = {k: str(v) for k, v in paths.items()}
    report["transform_note"] = "transform: 4x4, scan millimetres -> normalised model units (x / %g)" % SCALE_MM
    with output_set(paths.values()) as (mesh_tmp, codes_tmp, report_tmp):
        mesh_tmp.write_bytes(data if isinstance(data, bytes) else data.encode())
        with open(codes_tmp, "wb") as f:
            np.savez(
                f,
                z_id=result.codes.z_id, z_exp=result.codes.z_exp, z_det=result.codes.z_det,
                transform=result.alignment.matrix.astype(np.float64),
                stage1_z_id=result.stage1_codes.z_id, stage1_z_exp=result.stage1_codes.z_exp,
            )
        report_tmp.write_text(json.dumps(report, indent=1, default=_json_default), encoding="utf-8")
    return paths


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)
