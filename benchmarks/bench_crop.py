"""What cutting a face to its region costs: ``model.mesh`` with and without the crop, measured in one run.

    python benchmarks/bench_crop.py [--model M] [--resolutions 128 256] [--repeats 3]

The crop evaluates the template coordinates of every vertex (one warp pass) and clips the mesh along the
region's level line; both runs extract the same surface, so the difference is the crop's cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from imface_core.allocator import configure_allocator


def count_warps(model, codes, mesh) -> None:
    """Warp evaluations of the cut (``vertex_share``) against mapping every vertex, and where the cuts differ."""
    import numpy as np

    from imface_core.engine.field import FaceField
    from imface_core.engine.region import vertex_share

    face = FaceField(model, codes)
    counted = [0]

    def warp(points):
        counted[0] += len(points)
        return face.template_coords(np.asarray(points, dtype=np.float32))

    exact = model.region.share(face.template_coords(np.asarray(mesh.vertices, dtype=np.float32)))
    fast = vertex_share(mesh.vertices, warp, model.region)
    differ = int(((exact >= model.region.threshold) != (fast >= model.region.threshold)).sum())
    print(f"{'':>10} warp evaluations for the cut: {counted[0]} for {len(mesh.vertices)} vertices "
          f"({len(mesh.vertices) / counted[0]:.1f}x fewer); vertices cut differently: {differ}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model file (default: the shipped model)")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    configure_allocator()
    from imface_core import FaceModel
    from imface_core.compute import set_compute_threads
    from imface_core.face_model import DEFAULT_MODEL

    set_compute_threads(args.threads)
    model = FaceModel.load(args.model or DEFAULT_MODEL, device="cpu")
    if model.region is None:
        print("this model has no face region (imface region): nothing to crop")
        return 1
    codes = model.codes(0, 0)
    model.mesh(codes, 64)  # warm-up
    print(f"machine load (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs, "
          f"{args.threads} torch thread(s)")
    print(f"{'resolution':>10} {'whole s':>8} {'cropped s':>10} {'ratio':>6} {'faces whole':>12} {'cropped':>8}")
    for n in args.resolutions:
        times = {True: [], False: []}
        faces = {}
        for _ in range(args.repeats):
            for crop in (False, True):  # interleaved, so a change of load hits both
                t0 = time.perf_counter()
                mesh = model.mesh(codes, n, crop=crop)
                times[crop].append(time.perf_counter() - t0)
                faces[crop] = len(mesh.faces)
        whole, cropped = statistics.median(times[False]), statistics.median(times[True])
        print(f"{n:>10} {whole:>8.2f} {cropped:>10.2f} {cropped / whole:>6.2f} {faces[False]:>12} {faces[True]:>8}")
        count_warps(model, codes, model.mesh(codes, n, crop=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
