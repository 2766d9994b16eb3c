"""How far the wrinkle detail moves a face: detail strength 0 / 2 against 1, and one face's detail put on another.

    python benchmarks/detail_transfer.py [--model M] [--target s0_000/neutral] [--source s0_003/brow_raise]
        [--resolution 256] [--render docs/detail_transfer.png]

Meshes of the target face (its own codes) at detail strength 0, 1 and 2, the target with the source's detail
codes (``transfer_detail``: what ``imface generate --detail-from`` and the editor's *Apply details* do) and the
source itself, all by ``FaceModel.mesh`` (method "displace", as the editor and exports make them). Prints, over
the face and over its forehead (the editor's forehead region), the median and 95th percentile of the distance
from each vertex of one mesh to the other surface (mm). ``--render`` writes the target before and after the
transfer beside the source, shaded and coloured by how far the detail moves each point of the surface.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    from imface_core.allocator import configure_allocator

    configure_allocator()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="model (default: the shipped one)")
    parser.add_argument("--target", default="s0_000/neutral", help="IDENTITY/EXPRESSION of the training face given"
                        " the detail (default s0_000/neutral)")
    parser.add_argument("--source", default="s0_003/brow_raise", help="IDENTITY/EXPRESSION whose detail is taken"
                        " (default s0_003/brow_raise, the most wrinkled forehead of detail_residual.py's faces)")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--render", type=Path, default=None, help="write the before / after picture here (PNG)")
    args = parser.parse_args(argv)

    from imface_core.engine.field import FaceField
    from imface_core.engine.transfer import transfer_detail
    from imface_core.face_model import DEFAULT_MODEL, FaceModel
    from imface_core.local_edit import REGIONS, region_anchors, region_weight
    from imface_core.metrics import surface_distance

    model = FaceModel.load(args.model or DEFAULT_MODEL)
    target, source = (model.codes(*name.split("/", 1)) for name in (args.target, args.source))
    n = args.resolution

    def mesh(codes, strength=1.0):
        return model.mesh(codes, n, detail_scale=strength, method="displace")

    own = mesh(target)
    meshes = {"strength 0": mesh(target, 0.0), "strength 2": mesh(target, 2.0),
              f"detail of {args.source}": mesh(transfer_detail(target, source))}
    forehead = REGIONS["forehead"]
    x_t = FaceField(model, target, detail=False).template_coords(np.asarray(own.vertices, dtype=np.float32))
    anchors = region_anchors("forehead", model.net.template_landmarks68.detach().cpu().numpy())
    on_forehead = region_weight(x_t.astype(np.float64), anchors, forehead.inner, forehead.outer) >= 0.5
    print(f"{model.path.name}: {args.target} at {n}^3 ({len(own.vertices):,} vertices, {on_forehead.sum():,} on "
          f"the forehead); distance of its vertices (detail strength 1) to the other surface, mm")
    print(f"{'other surface':>32} | face median / p95 | forehead median / p95")
    for name, other in meshes.items():
        d = 100.0 * surface_distance(np.asarray(own.vertices), other)
        print(f"{name:>32} | {np.median(d):.3f} / {np.percentile(d, 95):.3f} | "
              f"{np.median(d[on_forehead]):.3f} / {np.percentile(d[on_forehead], 95):.3f}", flush=True)
    if args.render is not None:
        bare = mesh(target, 0.0)
        source_mesh, source_bare = mesh(source), mesh(source, 0.0)
        panels = [(own, bare, f"{args.target}, its own detail"),
                  (meshes[f"detail of {args.source}"], bare, f"{args.target} with the detail of {args.source}"),
                  (source_mesh, source_bare, f"{args.source} (the source)")]
        _render(panels, args.render)
    return 0


def _detail_mm(detailed, bare) -> np.ndarray:
    """Signed move of each vertex by the detail (mm, along the outward normal): "displace" meshes of one face at two
    strengths share their vertices' coarse positions."""
    if len(detailed.vertices) != len(bare.vertices):
        return np.full(len(detailed.vertices), np.nan)
    move = np.asarray(detailed.vertices) - np.asarray(bare.vertices)
    return 100.0 * np.einsum("ij,ij->i", move, np.asarray(bare.vertex_normals))


def _render(panels, out: Path) -> None:
    """Top row shaded, bottom row coloured by the detail's move of the surface."""
    import pyvista

    plotter = pyvista.Plotter(off_screen=True, shape=(2, len(panels)), window_size=(500 * len(panels), 1000))
    for col, (detailed, bare, title) in enumerate(panels):
        for row in (0, 1):
            plotter.subplot(row, col)
            surface = pyvista.wrap(detailed)
            if row == 0:
                plotter.add_mesh(surface, color="#e3c9b5", smooth_shading=True, specular=0.2)
                plotter.add_text(title, font_size=9)
            else:
                surface["detail (mm)"] = _detail_mm(detailed, bare)
                plotter.add_mesh(surface, scalars="detail (mm)", clim=[-0.3, 0.3], cmap="RdBu_r",
                                 nan_color="lightgray", show_scalar_bar=col == len(panels) - 1)
                plotter.add_text("the detail's move of the surface (mm)", font_size=8)
            plotter.view_xy()
            plotter.camera.zoom(1.45)
    out.parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
