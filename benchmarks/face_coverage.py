"""Do a model's faces stay inside the face region? Counts surface outside it on many faces, and draws 12 of them.

    python benchmarks/face_coverage.py [--model M] [--faces 100] [--resolution 128] [--render docs/faces.png]

The faces: half of them random (``LatentNavigator.random_face`` with a random named expression, or a random
expression code for every third), half training people in named expressions (drawn without repeats).
Each is meshed as the product meshes it (``model.mesh``: cut to the face region); every triangle's centroid is
then mapped to template space afresh and looked up in the region. A triangle counts as outside when its share
of covering scans is below the region's threshold by more than ``--tolerance`` (the cut interpolates along
edges, so a boundary triangle's centroid may read a little under it). ``--whole-surface`` counts the same on the
uncut surface: what the cut removes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def face_list(model, count: int, seed: int) -> list[tuple[str, object]]:
    """``count`` (name, FaceCodes): random faces and training people in named expressions, alternately."""
    import numpy as np

    from imface_core.engine import LatentNavigator

    nav = LatentNavigator(model)
    rng = np.random.default_rng(seed)
    expressions = list(model.expressions)
    scans = [(s["identity"], s["expression"]) for s in model.scans if s["expression"] in expressions]
    order = rng.permutation(len(scans))
    faces, taken = [], 0
    for k in range(count):
        if k % 2 == 0:
            face_seed = int(rng.integers(1 << 31))
            if k % 3 == 0:
                faces.append((f"random {face_seed}", nav.random_face(face_seed)))
            else:
                name = expressions[int(rng.integers(len(expressions)))]
                faces.append((f"random {face_seed} {name}", nav.random_face(face_seed, expression=name)))
        else:
            person, name = scans[order[taken % len(order)]]
            taken += 1
            faces.append((f"{person} {name}", nav.with_expression(model.codes(person, 0), name)))
    return faces


def outside_triangles(model, mesh, codes, tolerance: float) -> tuple[int, float]:
    """(triangles whose centroid lies outside the face region, the lowest centroid share)."""
    import numpy as np

    if len(mesh.faces) == 0:
        return 0, float("nan")
    centroids = mesh.triangles_center.astype(np.float32)
    share = model.region.share(model.template_coords(centroids, codes))
    return int((share < model.region.threshold - tolerance).sum()), float(share.min())


def render(model, faces, resolution: int, out: Path) -> None:
    """12 faces in a 3 x 4 grid, frontal, full detail (``method="displace"``)."""
    import pyvista

    plotter = pyvista.Plotter(off_screen=True, shape=(3, 4), window_size=(1600, 1500), border=True)
    for k, (name, codes) in enumerate(faces[:12]):
        mesh = model.mesh(codes, resolution=resolution, method="displace")
        plotter.subplot(k // 4, k % 4)
        plotter.add_mesh(pyvista.wrap(mesh), color=(0.87, 0.72, 0.6), smooth_shading=True, specular=0.3)
        plotter.add_text(name, font_size=9)
        plotter.view_xy()
        plotter.camera.zoom(1.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    plotter.screenshot(str(out))
    print(f"wrote {out}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO_ROOT / "resources" / "imface_compact.pt")
    p.add_argument("--faces", type=int, default=100)
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=0.05,
                   help="share under the region's threshold a centroid may read (default 0.05)")
    p.add_argument("--whole-surface", action="store_true", help="count on the uncut surface instead")
    p.add_argument("--render", type=Path, help="also draw 12 of the faces into this PNG")
    p.add_argument("--render-resolution", type=int, default=192)
    args = p.parse_args(argv)
    from imface_core.allocator import configure_allocator

    configure_allocator()
    from imface_core import FaceModel

    model = FaceModel.load(args.model, device="cpu")
    if model.region is None:
        sys.exit(f"{args.model} has no face region: run `imface region` on it first")
    faces = face_list(model, args.faces, args.seed)
    total_outside = total = with_outside = 0
    t0 = time.perf_counter()
    for name, codes in faces:
        mesh = model.mesh(codes, resolution=args.resolution, crop=not args.whole_surface)
        outside, lowest = outside_triangles(model, mesh, codes, args.tolerance)
        total += len(mesh.faces)
        total_outside += outside
        with_outside += outside > 0
        print(f"{name:<32} {len(mesh.faces):>7} triangles, {outside:>6} outside (lowest share {lowest:.2f})")
    print(f"{len(faces)} faces at {args.resolution}^3 ({'uncut' if args.whole_surface else 'cut to the region'}): "
          f"{total_outside} of {total} triangles outside the face region, on {with_outside} faces "
          f"({time.perf_counter() - t0:.0f} s)")
    if args.render:
        render(model, faces, args.render_resolution, args.render)
    return 0


if __name__ == "__main__":
    sys.exit(main())
