"""Side-by-side renders of training scans' faces from two or more models (e.g. before / after ``imface polish``).

    python benchmarks/detail_compare.py --models A.pt B.pt --labels before after \
        [--scans s0_003/6_brow_raise ...] [--data DATA_TRAIN] --out detail_compare.png [--resolution 256]

One row per scan, one column per model: the scan's training codes through the full model (the editor's
``method="displace"`` mesh, or ``--method exact``). Printed and in the titles: the mean distance of its vertices from the same face
without detail (mm), so faint and visible wrinkles can be told apart by number as well as by eye; printed:
how many vertices lie over ``SPECK_MM`` off the fine surface they should show (specks). A last
column shows the training scan itself (its prepared, normalised mesh) when ``--data`` gives the prepared data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from _display import rerun_under_xvfb  # noqa: E402 (beside this script)


SPECK_MM = 0.3
"""Vertices farther than this from the fine surface (|fine SDF| at the vertex) are counted as specks: the exact
mesh lies within ~0.01 mm of it on average, and a ``displace`` vertex that did not follow the refinement (a
sliver put back at the coarse surface) stands up to the whole displacement, 1-2 mm, proud of it. Only vertices in
front of ``FACE_BACK`` count: behind it lie the sides and back of the head, which no scan covers."""
FACE_BACK = -0.5
"""Depth (normalised units, nose tip at 0, 1 = 100 mm) behind which a vertex is not on the face."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, nargs="+", required=True)
    p.add_argument("--labels", nargs="+", default=None)
    p.add_argument("--scans", nargs="+", default=["s0_003/6_brow_raise", "s0_012/2_smile", "s0_021/7_brow_lower"],
                   help="IDENTITY/FILE_STEM of training scans")
    p.add_argument("--data", type=Path, default=None, help="prepared training data (adds the scan itself)")
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--method", choices=("displace", "exact"), default="displace",
                   help="the editor's fast detailed mesh (default) or marching cubes of the fine SDF itself")
    p.add_argument("--out", type=Path, required=True)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    rerun_under_xvfb("detail_compare.py")  # VTK's off-screen window still wants an X display here
    from imface_core._fast_alloc import configure_allocator

    configure_allocator()
    import pyvista
    import trimesh

    from imface_core import FaceModel

    labels = args.labels or [m.stem for m in args.models]
    models = [FaceModel.load(m, device="cpu") for m in args.models]
    columns = len(models) + (args.data is not None)
    plotter = pyvista.Plotter(off_screen=True, shape=(len(args.scans), columns),
                              window_size=(420 * columns, 520 * len(args.scans)))
    for row, scan in enumerate(args.scans):
        identity, stem = scan.split("/")
        expression = stem.split("_", 1)[1]
        for col, (label, model) in enumerate(zip(labels, models)):
            codes = model.codes(identity, expression)
            mesh = model.mesh(codes, resolution=args.resolution, method=args.method)
            # how far the detailed surface lies from the coarse one: |coarse SDF| at its vertices
            vertices = mesh.vertices.astype(np.float32)
            moved = np.abs(model.sdf(vertices, codes, detail=False))
            moved_mm = 100.0 * float(moved.mean())
            inside = vertices[:, 2] > FACE_BACK
            off = np.abs(model.sdf(vertices[inside], codes, detail=True))
            specks = int((off > SPECK_MM / 100.0).sum())
            print(f"{scan} {label}: detail {moved_mm:.3f} mm (mean distance from the coarse surface); "
                  f"{specks} of {int(inside.sum())} face vertices over {SPECK_MM} mm off the fine surface", flush=True)
            _show(plotter, row, col, mesh, f"{label} {scan}: detail {moved_mm:.3f} mm")
        if args.data is not None:
            _show(plotter, row, columns - 1, trimesh.load(args.data / identity / f"{stem}.ply"), f"training scan {scan}")
    plotter.screenshot(str(args.out))
    print(f"wrote {args.out}")
    return 0


def _show(plotter, row: int, col: int, mesh, title: str) -> None:
    import pyvista

    plotter.subplot(row, col)
    plotter.add_mesh(pyvista.wrap(mesh), color=(0.89, 0.70, 0.58), smooth_shading=True, specular=0.25)
    plotter.add_text(title, font_size=9)
    plotter.view_xy()
    plotter.camera.zoom(1.9)
    plotter.camera.Elevation(15)


if __name__ == "__main__":
    raise SystemExit(main())
