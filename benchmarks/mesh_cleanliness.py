"""What the face meshes' clean-up removes: stray pieces, turned-over triangles, and the cost of the normals.

    python benchmarks/mesh_cleanliness.py [--model PATH] [--resolution 128]

For 3 training people x 4 expressions of the model, at the editor's default quality:
* the share of the triangles in each connected piece of the coarse marching-cubes mesh (before
  ``drop_small_pieces``): the face and the strays;
* triangles the "displace" full-detail path turns over without ``keep_orientation`` and with it;
* the time of the viewport's area-weighted vertex normals vs trimesh's ``vertex_normals`` on one full mesh.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
PEOPLE = ("s0_000", "s0_011", "s0_027")
EXPRESSIONS = ("neutral", "jaw_open", "brow_raise", "cheek_puff")


def turned(before: np.ndarray, after: np.ndarray, faces: np.ndarray) -> int:
    a0, b0, c0 = (before[faces[:, k]] for k in range(3))
    a1, b1, c1 = (after[faces[:, k]] for k in range(3))
    return int((np.einsum("ij,ij->i", np.cross(b0 - a0, c0 - a0), np.cross(b1 - a1, c1 - a1)) < 0).sum())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO_ROOT / "resources" / "imface_compact.pt")
    p.add_argument("--resolution", type=int, default=128)
    args = p.parse_args(argv)
    from imface_core._fast_alloc import configure_allocator

    configure_allocator()
    import trimesh
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    import imface_core.engine.displacement as displacement
    from app.engine import area_weighted_normals
    from imface_core import FaceModel
    from imface_core.engine.extraction import ExtractionSettings
    from imface_core.engine.field import FaceField

    model = FaceModel.load(args.model, device="cpu")
    keep_everything = ExtractionSettings(min_piece_share=0.0)
    print(f"{args.model.name} at {args.resolution}^3")
    print(f"{'person':8s} {'expression':11s} {'pieces':>6s} {'largest %':>9s} {'strays %':>20s} {'turned w/o':>10s} "
          f"{'turned with':>11s}")
    mesh = None
    for person in PEOPLE:
        for expression in EXPRESSIONS:
            codes = model.codes(person, expression)
            coarse = model.mesh(codes, args.resolution, detail=False, settings=keep_everything)
            f = np.asarray(coarse.faces)
            n = len(coarse.vertices)
            graph = coo_matrix((np.ones(f.size), (f.ravel(), np.roll(f, 1, axis=1).ravel())), shape=(n, n))
            count, label = connected_components(graph, directed=False)
            share = np.sort(np.bincount(label[f[:, 0]], minlength=count) / len(f))[::-1] * 100
            face = FaceField(model, codes, detail=True)
            plain = displacement.keep_orientation
            displacement.keep_orientation = lambda before, after, faces: after  # the path without the guard
            try:
                unguarded, _ = displacement.displace_surface(face, coarse)
            finally:
                displacement.keep_orientation = plain
            mesh, _ = displacement.displace_surface(face, coarse)
            v0 = np.asarray(coarse.vertices)
            strays = " ".join(f"{s:.2f}" for s in share[1:4]) or "-"
            print(f"{person:8s} {expression:11s} {count:6d} {share[0]:9.2f} {strays:>20s} "
                  f"{turned(v0, np.asarray(unguarded.vertices), f):10d} {turned(v0, np.asarray(mesh.vertices), f):11d}")
    v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    t0 = time.perf_counter()
    for _ in range(10):
        area_weighted_normals(v, f)
    ours = (time.perf_counter() - t0) / 10
    t0 = time.perf_counter()
    for _ in range(10):
        _ = trimesh.Trimesh(v, f, process=False).vertex_normals
    theirs = (time.perf_counter() - t0) / 10
    print(f"vertex normals of a {len(v):,}-vertex face: area-weighted {1000 * ours:.1f} ms, "
          f"trimesh {1000 * theirs:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
