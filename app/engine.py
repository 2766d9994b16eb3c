"""The editor's bridge to ``imface_core``: loading, meshes for the viewport, export and fitting (no Qt).

Importing this module imports torch (through ``imface_core``), so the window imports it only on a worker
thread (the model loader) or after a model has been loaded; the GUI thread never waits for torch's import.
Everything here returns numpy / trimesh / pyvista objects; the pyvista meshes are built on the worker
thread, with vertex normals, so the GUI thread only swaps them into the viewport.

Adapters for what the core does not offer (yet) are marked "adapter" below.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
import pyvista
import trimesh

from imface_core.compute import set_compute_threads
from imface_core.checkpoint import CheckpointError
from imface_core.engine.colors import vertex_correspondence_colors
from imface_core.engine.field import FaceField
from imface_core.engine.navigation import LatentNavigator
from imface_core.engine.progressive import MeshRequest, ProgressiveMesher
from imface_core.start_face import StartFace
from imface_core.face_model import FaceCodes, FaceModel

from app.export_frame import MODEL_FRAME, ExportFrame, write_in_frame
from app.polydata import area_weighted_normals, to_polydata
from app.face_state import FaceSpace
from app.jobs import FitOptions, MeshJob

if TYPE_CHECKING:
    from imface_core.fitting.align import Alignment

__all__ = [
    "CheckpointError", "DISPLAY_TRIANGLES", "DisplayMesh", "EditorModel", "FitOptions", "FitOutcome", "MeshComputer", "MeshJob",
    "PREVIEW_CELLS", "decimated_for_display", "export_face", "fit_scan_file", "landmarks5", "load_editor_model",
    "preview_stride", "scan_landmarks", "set_compute_threads", "snap_to_vertices", "stored_start_face",
    "to_polydata",
]

_log = logging.getLogger(__name__)

DEFAULT_THREADS = 1
"""Torch threads of the editor's slider previews: on a shared 2-core CPU one thread is several times faster than
two while a slider moves (two threads stall whenever the other core is busy with the GUI's own rendering)."""


def full_detail_threads(threads: int) -> int:
    """Torch threads of a full-detail job: two where there are two cores (after a release the GUI thread is idle
    but for one render). bench_editor, quiet 2-core machine, one run each: release -> full detail median 1.73 s
    with two threads vs 2.01-2.40 s with one; drag p90 80 ms when the previews used two as well vs 46 ms."""
    return max(int(threads), min(2, os.cpu_count() or 1))


# ------------------------------------------------------------------------------------------------------
# the loaded model
@dataclass
class EditorModel:
    """A loaded model with what the panels need: principal directions, presets, training faces."""

    model: FaceModel
    navigator: LatentNavigator
    space: FaceSpace
    path: Path
    load_seconds: float

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def identities(self) -> list[str]:
        return list(self.model.identities)

    def training_codes(self, identity: int) -> FaceCodes:
        """Codes of training identity ``identity``: its z_id and the z_exp/z_det of its neutral scan (or its
        first scan when it has no neutral one)."""
        name = self.model.identities[identity]
        scans = [s["expression"] for s in self.model.scans if s["identity"] == name]
        expression = "neutral" if "neutral" in scans else scans[0]
        return self.model.codes(identity, expression)

    def detail_sources(self) -> list[tuple[str, np.ndarray]]:
        """(label, z_det) of every training identity (its neutral scan's details)."""
        return [(f"{name} (training)", self.training_codes(i).z_det) for i, name in enumerate(self.identities)]

    def describe(self) -> str:
        spec = self.model.latent_spec
        return (f"{self.name}: {len(self.identities)} identities, {len(self.model.expressions)} expressions, "
                f"codes {spec['z_id']}/{spec['z_exp']}/{spec['z_det']}")


def load_editor_model(path: str | Path, threads: int = DEFAULT_THREADS, device: str | None = None) -> EditorModel:
    """Load a checkpoint for the editor (worker thread). Raises ``CheckpointError`` for files that are not a
    model of this version (and ``OSError`` for unreadable ones)."""
    t0 = time.perf_counter()
    set_compute_threads(threads)
    path = Path(path)
    model = FaceModel.load(path, device=device)
    navigator = LatentNavigator(model)
    if navigator.identity.num_components == 0 and navigator.expression.num_components == 0:
        _log.warning("%s has a single training code per table: the sliders have nothing to move", path)
    space = FaceSpace.from_navigator(navigator)
    # Warm up the network (first calls allocate), so the first preview is as quick as the next ones.
    model.sdf(np.zeros((64, 3), dtype=np.float32), space.codes(space.initial_state()), detail=True)
    return EditorModel(model, navigator, space, path, time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------------------
# meshes for the viewport
PREVIEW_CELLS = 32
"""The coarse preview is a grid of 32-48 cells: with the compact model a 32-cell preview costs ~45 ms (a new
sparse-grid level or a template deformation), a 64-cell one ~170 ms, too slow for a visible update within
150 ms of a slider move on a 2-core CPU. Full requests refine through the finer levels after it."""


def stored_start_face(editor: EditorModel, threads: int) -> StartFace:
    """The model's stored start face (``imface_core.start_face``), for faces computed where this editor
    computes them."""
    device = editor.model.device.type
    return StartFace(editor.path, compute=f"cpu:{full_detail_threads(threads)}" if device == "cpu" else device)


SHOW_REFINE_ABOVE = 128
"""Refined levels between the preview and the full-detail face are made and shown only above this quality. At 128 the
full face follows within two seconds, and drawing a refinement on the way takes the GUI thread's core from the
worker's two threads (``bench_editor.py``, one session, alternating runs of 8 releases: median 1.68-1.72 s
without it against 1.82-2.05 s for the code that drew it)."""


def preview_stride(resolution: int) -> int:
    """Octree level of the coarse preview: the largest power of two p with resolution / p >= ``PREVIEW_CELLS``
    (1 = no preview level, for small grids)."""
    if resolution < 2 * PREVIEW_CELLS:
        return 1
    p = 2
    while resolution / (2 * p) >= PREVIEW_CELLS:
        p *= 2
    return p


@dataclass
class DisplayMesh:
    """One mesh for the viewport (made on the worker thread)."""

    job: MeshJob
    stage: str
    """"preview", "refine" or "final"."""
    stride: int
    full_detail: bool
    """The full-resolution, full-detail mesh of the job (the last one)."""
    seconds: float
    """Compute time since the job started running."""
    poly: pyvista.PolyData
    """What the viewport draws: the mesh itself, or above ``DISPLAY_TRIANGLES`` a decimated copy."""
    mesh: trimesh.Trimesh
    """The computed mesh (export, colours, measurements)."""
    landmarks: np.ndarray | None = None
    stored: bool = False
    """Read from the stored start face (``imface_core.start_face``), not computed."""
    done_at: float = field(default_factory=time.perf_counter)

    @property
    def job_id(self) -> int:
        return self.job.job_id

    @property
    def n_vertices(self) -> int:
        return int(len(self.mesh.vertices))


DISPLAY_TRIANGLES = 400_000
"""Most triangles the viewport draws of a full-detail face: every quality the editor offers stays below it
with the shipped model (256^3: 208k triangles), so the viewport shows the very mesh an export writes.

Measured in one run under Xvfb (software OpenGL, 2 shared cores, 1000 x 760 viewport, render time as a ratio
to the 45k-triangle face of the same round): 104k triangles 1.34x, 208k 1.83x (49 vs 28 ms), 832k 3.9x.
The old budget (45,000, vtkDecimatePro) took 1.5 s on the worker per 256^3 release and changed the look:
Hausdorff 0.24 mm to the exported mesh, 233 triangles tilted > 60 degrees from the surface (the full mesh:
86; spiky eyelid rims), pixels of the face > 20 levels off: 0.07 %. Quadric decimation (used above the
budget) at 45k: 0.046 mm, 58 tilted, 0.02 %."""


def decimated_for_display(poly: pyvista.PolyData, max_triangles: int | None = DISPLAY_TRIANGLES) -> pyvista.PolyData:
    """``poly`` with at most ~``max_triangles`` triangles for the viewport (unchanged when it has fewer).

    Quadric decimation (vtkQuadricDecimation, the mesh boundary kept) moves the kept vertices to where they
    fit the surface best, so it neither leaves slivers nor folds the rims (vtkDecimatePro did, see
    ``DISPLAY_TRIANGLES``); the vertex normals are computed again and colours taken from the nearest vertex
    of ``poly``. It runs on the worker thread. Export and every computation use the full mesh
    (``DisplayMesh.mesh``).
    """
    if max_triangles is None or poly.n_cells <= max_triangles:
        return poly
    out = poly.decimate(1.0 - max_triangles / poly.n_cells, boundary_constraints=True)
    points = np.ascontiguousarray(out.points, dtype=np.float32)
    out.point_data.active_normals = area_weighted_normals(points, out.regular_faces)
    if "rgb" in poly.point_data:
        from scipy.spatial import cKDTree

        nearest = cKDTree(np.asarray(poly.points)).query(points)[1]
        out.point_data["rgb"] = np.asarray(poly.point_data["rgb"])[nearest]
    return out


def landmarks5(model: FaceModel, codes: FaceCodes) -> np.ndarray:
    """The 5 landmarks (eye corners, nose tip, mouth corners) the model predicts for ``codes``, (5, 3)
    in normalised units."""
    return FaceField(model, codes, detail=False).landmarks


def snap_to_vertices(points: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Each point moved to its nearest vertex (predicted landmarks lie near, not on, the surface; on it they
    stay visible)."""
    v = np.asarray(vertices, dtype=np.float32)
    if len(v) == 0:
        return np.asarray(points, dtype=np.float32)
    nearest = [int(np.argmin(((v - p) ** 2).sum(axis=1))) for p in np.asarray(points, dtype=np.float32)]
    return v[nearest].copy()


class MeshComputer:
    """Runs ``MeshJob``s with one ``ProgressiveMesher`` (worker thread only).

    Args:
        model: the ``FaceModel``.
        method: full-detail method ("displace": coarse surface + detail displacement, 3-4x fewer network
            evaluations than "exact", within hundredths of a mm of it).
        preview: "template": while a slider is dragged, the last preview mesh is deformed to the new codes
            (its vertices follow the warps; about half the cost of a new sparse-grid level with the compact
            model); "grid": a new coarse level each time. Full requests always rebuild the grid level.
        display_triangles: a full-detail mesh with more triangles is decimated to about this many for the
            viewport (``decimated_for_display``); None draws every triangle.
    """

    def __init__(self, model: FaceModel, method: str = "displace", preview: str = "template",
                 display_triangles: int | None = DISPLAY_TRIANGLES, start_face: StartFace | None = None,
                 threads: int | None = None):
        self.model = model
        self.threads = None if threads is None else (int(threads), full_detail_threads(threads))
        """Torch threads of (preview, full-detail) jobs; None leaves torch's setting alone."""
        self._threads_now = None
        self.method = method
        self.display_triangles = display_triangles
        self.mesher = ProgressiveMesher(model, preview=preview)
        self.start_face = start_face
        """The stored first face (``imface_core.start_face``): the first full-detail job is read from it
        when it holds that face, else computed and stored for the next launch."""
        self._first_full = start_face is not None

    def run(self, job: MeshJob, cancel: threading.Event) -> Iterator[DisplayMesh]:
        if self.threads is not None and self.threads[not job.preview_only] != self._threads_now:
            self._threads_now = set_compute_threads(self.threads[not job.preview_only])
        if job.fresh:
            self.mesher.reset()
        p = preview_stride(job.resolution)
        request = MeshRequest(
            job.codes,
            resolution=job.resolution,
            detail=True,
            detail_scale=float(job.state.detail_scale),
            preview_stride=p,
            stop_stride=p if job.preview_only else 1,
            method=self.method,
            colors=job.colors,
            refine=job.resolution > SHOW_REFINE_ABOVE,
        )
        landmarks = landmarks5(self.model, job.codes) if job.landmarks else None
        start = self._first_full and not job.preview_only  # the start face: read it, or store it for next time
        if start:
            self._first_full = False
            stored = self.start_face.load(request)
            if stored is not None:
                yield self._display(job, "final", 1, True, 0.0, stored, landmarks, stored=True)
                # warm the drag previews (their template mesh) while the face is already on screen
                for _ in self.mesher.run(replace(request, stop_stride=p), cancel):
                    pass
                return
        for update in self.mesher.run(request, cancel):
            full = bool(update.final and update.stride == 1)
            stage = "final" if full else ("preview" if update.stage in ("preview", "final") else update.stage)
            if full and start:  # stored before it is shown: a window closed or reopened at once still finds it
                self.start_face.save(request, update.mesh)
            yield self._display(job, stage, update.stride, full, update.seconds, update.mesh, landmarks)

    def _display(self, job: MeshJob, stage: str, stride: int, full: bool, seconds: float, mesh: trimesh.Trimesh,
                 landmarks: np.ndarray | None, stored: bool = False) -> DisplayMesh:
        marks = None if landmarks is None else snap_to_vertices(landmarks, mesh.vertices)
        poly = to_polydata(mesh)
        if full:
            poly = decimated_for_display(poly, self.display_triangles)
        return DisplayMesh(job, stage, stride, full, seconds, poly, mesh, marks, stored=stored)


# ------------------------------------------------------------------------------------------------------
# export
EXPORT_FORMATS = (".obj", ".ply")


def export_face(mesh: trimesh.Trimesh, path: str | Path, colors: bool, model: FaceModel | None = None,
                codes: FaceCodes | None = None, detail_scale: float = 1.0, frame: ExportFrame = MODEL_FRAME) -> Path:
    """Write the shown face (normalised units) to ``path`` in millimetres, OBJ or PLY by suffix, in ``frame``
    (``app.export_frame``: the model's, or a fitted scan's own), which a comment in the file names.

    ``colors``: correspondence colours per vertex (computed when the mesh has none; needs model and codes).
    Raises ``ValueError`` for an unsupported suffix and ``OSError`` when the file cannot be written.
    """
    path = Path(path)
    if path.suffix.lower() not in EXPORT_FORMATS:
        raise ValueError(f"`{path.name}`: unsupported mesh format `{path.suffix or '(none)'}`; use .obj or .ply")
    out = trimesh.Trimesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), process=False)
    if colors:
        if mesh.visual.kind == "vertex":
            out.visual.vertex_colors = np.asarray(mesh.visual.vertex_colors)
        else:
            if model is None or codes is None:
                raise ValueError("colours need the model and the codes of the mesh")
            face = FaceField(model, codes, detail=True, detail_scale=detail_scale)
            out.visual.vertex_colors = vertex_correspondence_colors(face, out.vertices)
    return write_in_frame(out, path, frame, colors)


# ------------------------------------------------------------------------------------------------------
# fitting
@dataclass
class FitOutcome:
    """What the editor keeps of a fit: the codes, the scan in the model's frame and its error map."""

    path: Path
    codes: FaceCodes
    scan_vertices: np.ndarray
    """(N, 3) float32, normalised units (the model's frame)."""
    scan_faces: np.ndarray | None
    """(F, 3) or None for a point cloud."""
    errors_mm: np.ndarray
    """(N,) signed distance of each scan vertex to the fitted surface, mm; NaN where not covered."""
    stats: dict
    chamfer_mm: float | None
    warnings: list[str]
    seconds: float
    alignment: "Alignment | None" = None
    """Scan millimetres -> the model units of ``codes`` (the fit's; ``app.export_frame`` writes the face where
    the scan lies with it, as ``imface fit`` does)."""

    @property
    def coverage(self) -> float | None:
        """Share of the scan's points the fit covers (in the model's face region, on the frontal surface that was
        fitted); the error map and its mean are over these. None when not measured."""
        value = self.stats.get("covered_fraction")
        return None if value is None else float(value)

    @property
    def name(self) -> str:
        return self.path.name

    def summary(self) -> str:
        parts = [f"fitted {self.name} in {self.seconds:.1f} s"]
        if self.chamfer_mm is not None:
            parts.append(f"Chamfer {self.chamfer_mm:.2f} mm")
        if "mean_mm" in self.stats:
            covered = "" if self.coverage is None else f" over the {100.0 * self.coverage:.0f} % of the scan it covers"
            parts.append(f"mean error {self.stats['mean_mm']:.2f} mm{covered}")
        return ", ".join(parts)


def fit_scan_file(model: FaceModel, path: str | Path, options: FitOptions = FitOptions(),
                  progress: Callable[[int, int, str], None] | None = None,
                  cancel: threading.Event | None = None) -> FitOutcome:
    """Fit ``model`` to the scan at ``path`` (worker thread); landmarks beside the scan are used when found
    (``scan_landmarks``).

    ``progress(step, steps, phase)`` follows the fit. Raises ``ScanError`` (bad file), ``imface_core.errors.Cancelled``
    (cancelled) or ``ValueError`` (the fit does not describe the scan).
    """
    from imface_core.fitting import FitSettings, fit_scan

    t0 = time.perf_counter()

    def on_progress(p) -> None:
        if progress is not None:
            progress(int(p.step), int(p.steps) or options.steps, str(p.phase))

    path = Path(path)
    landmarks = scan_landmarks(path)
    result = fit_scan(model, path, landmarks=landmarks, settings=FitSettings(steps=options.steps),
                      mesh_resolution=options.mesh_resolution, sample_points=options.sample_points,
                      progress=on_progress, cancel=cancel, with_metrics=options.metrics)
    if progress is not None:
        progress(options.steps, options.steps, "error map")
    emap = result.error_map
    scan = result.scan
    vertices = np.asarray(result.alignment.to_normalised(scan.vertices), dtype=np.float32)
    chamfer = None if result.metrics is None else float(result.metrics.chamfer_mm)
    return FitOutcome(Path(path), result.codes, vertices, scan.faces, np.asarray(emap.distances, dtype=np.float32),
                      emap.stats, chamfer, list(result.warnings), time.perf_counter() - t0, result.alignment)


def scan_landmarks(path: Path) -> Path | None:
    """``SCAN_landmarks.txt`` (or ``SCAN.landmarks.txt``) beside a scan, when there is one: it makes the
    alignment sure and quick."""
    for candidate in (path.with_name(f"{path.stem}_landmarks.txt"), path.with_name(f"{path.stem}.landmarks.txt")):
        if candidate.is_file():
            return candidate
    return None


