"""Progressive, incremental, cancellable meshes for the editor.

``ProgressiveMesher.run(request, cancel)`` is a generator of ``MeshUpdate``: a coarse preview first (the
band of the octree level of stride ``preview_stride``: a 64-cell grid for a 256 request at stride 4), then one
mesh per finer level, the last one being exactly ``FaceModel.mesh`` of the request. Cancellation (a
``threading.Event``) is checked between any two chunks of field evaluations; a cancelled run simply stops
yielding (``last_status == "cancelled"``).

Reuse between requests (the slider path):
* preview-only requests with new codes: the preview level is rebuilt by *following the surface* from the
  previous request's surface cells (evaluate them, step across every cell face the new surface crosses)
  instead of descending the octree from the top (``SparseGrid.track_level``); a surface component far from
  the previous surface is only found by a fresh run (``reset()``);
* requests past the preview always descend from the top, in value stores of their own, so the full mesh is
  a function of the request alone (to the bit), never of the edits before it; the same request again reuses
  every value (values are cached per codes, field, detail strength, method and preview level).

Usage from a worker thread (one request at a time; newer requests cancel older ones)::

    mesher = ProgressiveMesher(model)
    for update in mesher.run(MeshRequest(codes, resolution=256), cancel=event):
        show(update.mesh)          # update.final marks the last one
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Iterator

import numpy as np
import trimesh

from imface_core.engine.chunks import CancelToken, Cancelled, check_cancel
from imface_core.engine.colors import correspondence_colors, vertex_correspondence_colors
from imface_core.engine.displacement import displace_surface
from imface_core.engine.extraction import ExtractionSettings, FieldPlan, LevelResult, SparseGrid
from imface_core.engine.face_mesh import METHODS, face_mesh, face_plan, finish_face_mesh
from imface_core.settings import check_mesh_resolution
from imface_core.engine.field import FaceField
from imface_core.errors import CodesError
from imface_core.face_codes import FaceCodes

if TYPE_CHECKING:
    from imface_core.face_model import FaceModel

log = logging.getLogger(__name__)

__all__ = ["MeshRequest", "MeshUpdate", "ProgressiveMesher"]

_ids = itertools.count(1)


@dataclass(frozen=True)
class MeshRequest:
    """Everything one mesh job needs (built quickly on the UI thread; the codes are copied)."""

    codes: FaceCodes
    resolution: int = 256
    """N of the final grid (N samples over [-1, 1])."""
    detail: bool = True
    detail_scale: float = 1.0
    preview_stride: int = 4
    """The preview is the octree level of this stride (resolution 256, stride 4: a 64-cell grid)."""
    stop_stride: int = 1
    """Stop after this level (1 = the full resolution; = preview_stride for preview-only requests)."""
    method: str = "exact"
    """Full-detail method of the final level: "exact" or "displace" (see ``face_mesh``)."""
    colors: bool = False
    """Correspondence colours on every mesh."""
    refine: bool = True
    """Mesh and hand out the levels between the preview and the last one (False: the preview, then the last)."""
    request_id: int = field(default_factory=lambda: next(_ids))

    def __post_init__(self) -> None:
        if not isinstance(self.codes, FaceCodes):
            raise CodesError(f"a mesh request needs FaceCodes, got {type(self.codes).__name__}")
        check_mesh_resolution(self.resolution)
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.preview_stride < 1 or self.preview_stride & (self.preview_stride - 1):
            raise ValueError(f"preview_stride must be a power of two, got {self.preview_stride}")
        # a copy: the caller may change its arrays while the request runs (they are checked when it runs)
        object.__setattr__(self, "codes", FaceCodes(*(None if c is None else np.array(c) for c in
                                                      (self.codes.z_id, self.codes.z_exp, self.codes.z_det)),
                                                    self.codes.regions))


@dataclass
class MeshUpdate:
    """One mesh of a request."""

    request_id: int
    mesh: trimesh.Trimesh
    stage: str
    """"preview", "refine" or "final"."""
    stride: int
    """Octree level (grid cells are ``stride`` fine cells wide)."""
    final: bool
    seconds: float
    """Since the request started."""
    evaluations: int
    """Field evaluations of the request so far."""


class ProgressiveMesher:
    """Runs ``MeshRequest``s, keeping the bands and field values of previous ones for reuse.

    Not thread-safe: use it from one worker thread.

    Args:
        model: the ``FaceModel``.
        settings: sparse-extraction settings.
        preview: "template" (the default: deform the previous preview mesh by inverting the warps for its
            vertices, see ``template_deform.py``) or "grid" (the preview level rebuilt by surface tracking). The
            template path uses the grid when there is no previous preview; every request that goes past the
            preview rebuilds the template mesh from the grid, so its topology never drifts for long.
            ``imface bench`` measures both (the template path was ~1.5-2x faster at about the same Chamfer
            error on the test models).
        template_iterations: fixed-point steps of the template path per frame; 0 (the default) takes one
            unchecked step, each frame going on from the last (``TemplateDeformer.deform``). Measured on the
            compact model over a 20-move drag (``benchmarks/bench_preview_steps.py``): expression sliders
            19 ms per preview (0) vs 35 ms (1 checked step) vs 49 ms (2), at 0.11 / 0.10 / 0.10 mm mean
            distance to the coarse surface; identity and expression together 33 / 52 / 74 ms at
            0.53 / 0.37 / 0.31 mm. The full mesh follows on release.
    """

    def __init__(self, model: FaceModel, settings: ExtractionSettings | None = None, preview: str = "template",
                 template_iterations: int = 0):
        if preview not in ("grid", "template"):
            raise ValueError(f"preview must be 'grid' or 'template', got {preview!r}")
        self.model = model
        self.settings = settings or ExtractionSettings()
        self.preview = preview
        self.template_iterations = template_iterations
        self._grids: dict[int, SparseGrid] = {}
        self._band: dict[tuple[int, int], np.ndarray] = {}  # (resolution, stride) -> kept cells of the last run
        self._deformer = None
        self.last_status = "idle"

    def reset(self) -> None:
        """Forget bands and cached values (the next run descends the octree from the top)."""
        self._grids.clear()
        self._band.clear()
        self._deformer = None

    def grid(self, resolution: int) -> SparseGrid:
        if resolution not in self._grids:
            if len(self._grids) >= 2:  # keep the memory bounded: two resolutions at most
                self._grids.pop(next(iter(self._grids)))
            self._grids[resolution] = SparseGrid(resolution, self.settings, preallocate=True)
        return self._grids[resolution]

    def _level_mesh(self, grid: SparseGrid, level: LevelResult, face: FaceField, colors: bool,
                    cancel: CancelToken | None) -> trimesh.Trimesh:
        """A level's marching-cubes mesh, finished as ``face_mesh`` finishes its own (cut to the face region,
        colours, stray pieces dropped: ``finish_face_mesh``). Every mesh a request shows comes from here, from
        ``face_mesh`` or from the template deformer, which keeps the topology of a mesh from here."""
        return self._finish(face, grid.level_mesh(level), colors, cancel)

    def _finish(self, face: FaceField, mesh: trimesh.Trimesh, colors: bool, cancel: CancelToken | None
                ) -> trimesh.Trimesh:
        return finish_face_mesh(face, mesh, crop=True, colors=colors, min_piece_share=self.settings.min_piece_share,
                                cancel=cancel)

    def mesh(self, request: MeshRequest, cancel: CancelToken | None = None) -> trimesh.Trimesh | None:
        """The final mesh of ``request`` (None when cancelled)."""
        last = None
        for update in self.run(request, cancel):
            last = update
        return last.mesh if last is not None and last.final else None

    def run(self, request: MeshRequest, cancel: CancelToken | None = None) -> Iterator[MeshUpdate]:
        """Yield the preview, then finer meshes; stops quietly when ``cancel`` is set. Raises ``CodesError``
        (at the first ``next``) for codes this model refuses (``FaceModel.check_codes``)."""
        self.model.check_codes(request.codes)
        self.last_status = "running"
        try:
            yield from self._run(request, cancel)
        except Cancelled:
            self.last_status = "cancelled"
            log.debug("request %s cancelled", request.request_id)
            return
        self.last_status = "done"

    # ------------------------------------------------------------------------------------------------
    def _run(self, req: MeshRequest, cancel: CancelToken | None) -> Iterator[MeshUpdate]:
        t0 = time.perf_counter()
        grid = self.grid(req.resolution)
        evals0 = grid.evaluations
        face = FaceField(self.model, req.codes, detail=req.detail, detail_scale=req.detail_scale)
        coarse_plan = FieldPlan(face.coarse_sdf, f"{face.key}:coarse")
        p = min(req.preview_stride, grid.strides[0])
        preview_only = req.stop_stride >= p

        def update(mesh, stage, stride, final):
            if req.colors and len(mesh.vertices) and mesh.visual.kind != "vertex":
                mesh.visual.vertex_colors = vertex_correspondence_colors(face, mesh.vertices, cancel=cancel)
            return MeshUpdate(req.request_id, mesh, stage, stride, final, time.perf_counter() - t0,
                              grid.evaluations - evals0)

        if p == 1:  # a grid too small for levels: no preview, just the mesh
            mesh = face_mesh(self.model, req.codes, req.resolution, req.detail, req.detail_scale,
                             method=req.method, settings=self.settings, cancel=cancel, grid=grid)
            yield update(mesh, "final", 1, True)
            return

        # 1. preview: a deformed template mesh, or the level of stride p (coarse SDF, tight band).
        level = None
        shown = False
        if self.preview == "template" and self._deformer is not None:
            deformed = self._deformer.try_deform(face, cancel=cancel, iterations=self.template_iterations)
            if deformed is not None:
                shown = True
                if req.colors:  # the vertices keep their template points, hence their colours
                    deformed.visual.vertex_colors = correspondence_colors(self._deformer.targets)
                # the deformed vertices seed the grid's surface tracking when the grid is needed again
                m = grid.cells_per_axis(p)
                cells = np.clip(np.floor((deformed.vertices + 1.0) / grid.h).astype(np.int64) // p, 0, m - 1)
                lin = grid.unique((cells[:, 0] * m + cells[:, 1]) * m + cells[:, 2])
                self._band[(req.resolution, p)] = np.stack(np.unravel_index(lin, (m, m, m)), axis=1)
                yield update(deformed, "final" if preview_only else "preview", p, preview_only)
                if preview_only:
                    return
        band_key = (req.resolution, p)
        if not preview_only:
            # a mesh past the preview depends on the request only: descend from the top (the tracked surface of
            # the last request misses pieces it never reached), with value stores no other sequence writes
            # (the network's float32 results depend on the batch a point is evaluated in, by up to ~2e-7)
            coarse_plan = _own_stores(coarse_plan, req, p)
        elif band_key in self._band:
            level = grid.track_level(p, self._band[band_key], coarse_plan, cancel, mode="surface")
            if len(level.change) == 0 and len(self._band[band_key]):
                level = None  # the surface left the old cells everywhere: start from the top
        if level is None:
            for level in grid.iter_levels(coarse_plan, stop_stride=p, cancel=cancel):
                pass
        self._band[band_key] = level.change
        preview_raw = grid.level_mesh(level)
        # the deformed template is on screen: its next template mesh can wait until the full mesh is out
        rebuild_later = shown and not preview_only
        if not rebuild_later:
            preview_mesh = self._finish(face, preview_raw, req.colors, cancel)
            self._rebuild_deformer(face, preview_mesh, cancel)
            if not shown:
                yield update(preview_mesh, "final" if preview_only else "preview", p, preview_only)
        if preview_only:
            return

        # 2. finer levels, down to stop_stride.
        if face.detail and req.method == "exact":
            # the fine band of level p, grown from the coarse surface cells (the fine surface lies within the
            # refinement displacement, a few mm, of the coarse one)
            plan = _own_stores(face_plan(face, lipschitz=self.settings.lipschitz, fine_from_stride=p), req, p)
            coarse_level = level
            level = grid.track_level(p, coarse_level.change, plan, cancel, mode="band")
            if len(level.change) == 0:  # nothing kept around the coarse surface: widen by the largest displacement
                wide = _own_stores(face_plan(face, lipschitz=self.settings.lipschitz, fine_from_stride=p // 2), req, p)
                seeds = grid.track_level(p, coarse_level.change, wide, cancel, mode="band").kept
                level = grid.track_level(p, seeds, plan, cancel, mode="band")
        else:
            plan = coarse_plan
            if not level.complete_band:
                level = grid.track_level(p, level.change, plan, cancel, mode="band")
        last, stop = level, max(1, req.stop_stride)
        for lv in grid.iter_levels(plan, start=level, stop_stride=stop, cancel=cancel):
            last = lv
            if req.refine and lv.stride > stop:  # a finer level than the preview: out at once, before the next one
                yield update(self._level_mesh(grid, lv, face, req.colors, cancel), "refine", lv.stride, False)
        mesh = self._level_mesh(grid, last, face, req.colors, cancel)
        if face.detail and req.method == "displace" and last.stride == 1:
            mesh, x_t = displace_surface(face, mesh, cancel=cancel)
            if req.colors and len(mesh.vertices):
                mesh.visual.vertex_colors = correspondence_colors(x_t)
        check_cancel(cancel)
        yield update(mesh, "final", last.stride, True)
        if rebuild_later:
            try:
                self._rebuild_deformer(face, self._finish(face, preview_raw, req.colors, cancel), cancel)
            except Cancelled:  # a newer request came: the drag's template stays until the next full mesh
                pass

    def _rebuild_deformer(self, face: FaceField, preview_mesh: trimesh.Trimesh, cancel: CancelToken | None) -> None:
        """The template path's mesh for the next drag previews, from this face's preview level."""
        if self.preview == "template":
            from imface_core.engine.template_deform import TemplateDeformer

            self._deformer = TemplateDeformer.from_mesh(face, preview_mesh, cancel=cancel)


def _own_stores(plan: FieldPlan, req: MeshRequest, p: int) -> FieldPlan:
    """``plan`` with value stores of their own for the full mesh of ``req``: only runs of this same sequence of
    evaluations (method, detail, preview level) fill them, so every value is computed in the same batch as in
    any other run of it and the mesh is the same to the bit, whatever ran before. A cancelled run leaves a
    prefix of the sequence (cancellation falls between chunks), which the next one completes the same way."""
    own = f"|{req.method}:{req.detail}:{req.detail_scale!r}:{p}"
    return replace(plan, name=plan.name + own, guide_name=plan.guide_name + own)
