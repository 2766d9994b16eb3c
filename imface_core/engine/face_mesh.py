"""Meshes of a face: the policy behind ``FaceModel.mesh``.

* ``method="exact"``: sparse marching cubes of the SDF that is shown (the fine SDF with detail), equal to
  dense-grid marching cubes at the resolution. The coarse SDF guides the upper levels (cheap), its band widened
  by the largest refinement displacement; the fine SDF evaluates the levels of stride <= ``FINE_FROM_STRIDE``.
* ``method="displace"``: sparse marching cubes of the coarse SDF, then the refinement applied as a displacement
  of its vertices (``displacement.py``): about 3-4x fewer network evaluations, an approximation of the exact
  fine mesh (``imface bench`` reports the Chamfer distance between them).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import trimesh

from imface_core.engine.chunks import DEFAULT_CHUNK, CancelToken, evaluate_in_chunks
from imface_core.engine.cleanup import drop_small_pieces
from imface_core.engine.colors import correspondence_colors
from imface_core.engine.displacement import displace_surface
from imface_core.engine.extraction import ExtractionSettings, FieldPlan, LevelResult, SparseGrid, sparse_mesh
from imface_core.engine.field import FaceField
from imface_core.engine.memory import check_extraction_memory
from imface_core.engine.region import clip_mesh, crop_mesh, vertex_share
from imface_core.settings import check_mesh_resolution

__all__ = ["MESH_RESOLUTION", "face_mesh", "face_plan", "METHODS", "COLOR_MODES", "FINE_FROM_STRIDE"]

METHODS = ("exact", "displace")
COLOR_MODES = (None, "none", "correspondence")
MESH_RESOLUTION = 256
"""The default resolution of a face mesh (``FaceModel.mesh``, ``imface generate``)."""
FINE_FROM_STRIDE = 4
"""Levels with this stride or finer use the fine SDF in the exact method; coarser ones the coarse guide."""


def face_plan(face: FaceField, coarse: FaceField | None = None, lipschitz: float = 1.5,
              fine_from_stride: int = FINE_FROM_STRIDE) -> FieldPlan:
    """The field plan of ``face``: its own SDF, guided by the coarse SDF above ``fine_from_stride`` when fine."""
    coarse_name = f"{face.key}:coarse"
    if not face.detail:
        return FieldPlan(face.coarse_sdf, coarse_name)
    coarse = coarse or face
    return FieldPlan(
        face.fine_sdf,
        f"{face.key}:fine:{face.detail_scale!r}",
        guide=coarse.coarse_sdf,
        guide_name=coarse_name,
        guide_margin=lipschitz * face.max_displacement,
        guide_stride=fine_from_stride,
    )


def face_mesh(
    model,
    codes,
    resolution: int = MESH_RESOLUTION,
    detail: bool = True,
    detail_scale: float = 1.0,
    colors: str | None = None,
    method: str = "exact",
    settings: ExtractionSettings | None = None,
    cancel: CancelToken | None = None,
    grid: SparseGrid | None = None,
    displace_iterations: int = 1,
    on_level: Callable[[LevelResult], None] | None = None,
    crop: bool = True,
) -> trimesh.Trimesh:
    """Mesh of one face in normalised units (see the module doc for ``method``).

    Args:
        model: a ``FaceModel``; codes: its ``FaceCodes``.
        resolution: N of the equivalent dense grid (N samples over [-1, 1]).
        detail, detail_scale: fine SDF and its detail strength (0 or ``detail=False``: coarse shape).
        colors: None / "none" or "correspondence" (vertex RGB from template coordinates).
        grid: a ``SparseGrid`` of this resolution to reuse (memory and values of the same codes).
        on_level: called after each level of the extraction (progress).
        crop: cut the surface to the model's face region (``region.py``: where the training scans had
            surface); False keeps the whole zero set in the box. Models without a region are never cropped.

    Raises ``ResourceError`` at once when the grid would not fit in the memory available (``memory.py``).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if colors not in COLOR_MODES:
        raise ValueError(f"colors must be one of {COLOR_MODES[1:]}, got {colors!r}")
    resolution = check_mesh_resolution(resolution)
    if grid is None:
        check_extraction_memory(resolution, loaded=True)
    face = FaceField(model, codes, detail=detail, detail_scale=detail_scale)
    settings = settings or (grid.settings if grid is not None else ExtractionSettings())
    x_t = None
    if face.detail and method == "displace":
        plan = FieldPlan(face.coarse_sdf, f"{face.key}:coarse")
        coarse_mesh = sparse_mesh(face.coarse_sdf, resolution, settings, cancel, plan=plan, grid=grid,
                                  on_level=on_level)
        mesh, x_t = displace_surface(face, coarse_mesh, iterations=displace_iterations, cancel=cancel)
    else:
        plan = face_plan(face, lipschitz=settings.lipschitz)
        mesh = sparse_mesh(face.sdf, resolution, settings, cancel, plan=plan, grid=grid, on_level=on_level)
    return finish_face_mesh(face, mesh, x_t, crop, colors == "correspondence", settings.min_piece_share, cancel)


def finish_face_mesh(face: FaceField, mesh: trimesh.Trimesh, x_t=None, crop: bool = True, colors: bool = False,
                     min_piece_share: float = 0.0, cancel: CancelToken | None = None) -> trimesh.Trimesh:
    """The last steps every face mesh takes: cut to the model's face region (``crop``), correspondence
    colours (``colors``) and stray pieces dropped. ``x_t``: the vertices' template coordinates when known."""
    region = face.model.region if crop else None

    def warp(points: np.ndarray) -> np.ndarray:
        return evaluate_in_chunks(face.template_coords, np.asarray(points, dtype=np.float32), DEFAULT_CHUNK * 4,
                                  cancel).reshape(-1, 3)

    if len(mesh.vertices) and (colors or x_t is not None):
        x_t = warp(mesh.vertices) if x_t is None else x_t
        if region is not None:
            mesh, x_t = crop_mesh(mesh, x_t, region)
        if colors:
            mesh.visual.vertex_colors = correspondence_colors(x_t)
    elif len(mesh.vertices) and region is not None:  # no colours: map only what the cut needs
        mesh, _ = clip_mesh(mesh, vertex_share(mesh.vertices, warp, region), region.threshold)
    return drop_small_pieces(mesh, min_piece_share)
