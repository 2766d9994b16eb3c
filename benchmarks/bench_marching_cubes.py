"""Marching cubes on the engine's own workload: scikit-image (Lewiner, what the engine uses) vs PyMCubes.

    python benchmarks/bench_marching_cubes.py [--model PATH] [--resolutions 128 256] [--repeats 5]

Inputs (computed once, cached in ``--cache``, default /tmp/imface_mc_bench, not timed), for training scan 0's
codes of the model's coarse SDF (the surface the editor's full-detail ``displace`` mesh starts from):

* dense: the whole N^3 grid, as ``imface bench``'s baseline (``grid.dense_mesh``) meshes it;
* sparse: every volume the sparse extractor hands to marching cubes (``SparseGrid.level_mesh`` of each level of
  ``iter_levels``: the coarse previews and the final level): the bounding box of the level's sign-change cells,
  unevaluated voxels filled, with skimage's cube mask restricting the work to those cells.

Both libraries run on the same arrays in the same process, one after the other, ``--repeats`` times (median).
PyMCubes has no cube mask, so it processes the whole box. Its surface is compared with skimage's (triangle count,
vertex positions: mean distance from each PyMCubes vertex to the nearest skimage vertex, in cells). On the sparse
volumes the extractor fills unevaluated voxels with +1 (only masked cubes are meshed), which would give PyMCubes
false surfaces; it is therefore compared there on the true SDF of the same box (from the dense volume). The machine
load is printed: other jobs on the CPU slow both libraries. PyMCubes is not a dependency of ImFace Studio (the
engine keeps scikit-image: README, "Measured numbers"); install it for this script: ``pip install PyMCubes``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=REPO_ROOT / "resources" / "imface_compact.pt")
    p.add_argument("--resolutions", type=int, nargs="+", default=[128, 256])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--cache", type=Path, default=Path("/tmp/imface_mc_bench"))
    return p.parse_args(argv)


def workload(model_path: Path, n: int, cache: Path) -> dict:
    """{"dense": volume, "sparse": [(stride, values, cubes), ...]} for resolution ``n`` (cached)."""
    path = cache / f"{model_path.stem}_{os.path.getmtime(model_path):.0f}_{n}.npz"
    if path.is_file():
        data = np.load(path)
        strides = [int(s) for s in data["strides"]]
        return {"dense": data["dense"], "sparse": [
            (s, data[f"values_{s}"], data[f"cubes_{s}"], [data[f"index_{s}_{d}"] for d in range(3)]) for s in strides]}
    import torch

    from imface_core import FaceModel
    from imface_core.engine import extraction
    from imface_core.engine.extraction import FieldPlan, SparseGrid
    from imface_core.engine.field import FaceField
    from imface_core.engine.grid import dense_volume

    torch.set_num_threads(2)
    model = FaceModel.load(model_path)
    face = FaceField(model, model.codes(0, 0), detail=False)
    captured = []
    real = extraction.volume_to_mesh

    def capture(values, axes, level=0.0, cubes=None):
        index = [np.rint((np.asarray(a) + 1.0) * (n - 1) / 2.0).astype(np.int64) for a in axes]  # fine-grid indices
        captured.append((np.array(values, dtype=np.float32), np.array(cubes, dtype=np.int64), index))
        return real(values, axes, level, cubes=cubes)

    extraction.volume_to_mesh = capture
    try:
        grid = SparseGrid(n)
        strides = []
        for level in grid.iter_levels(FieldPlan(face.coarse_sdf, f"{face.key}:coarse")):
            grid.level_mesh(level)
            strides.append(level.stride)
    finally:
        extraction.volume_to_mesh = real
    t0 = time.perf_counter()
    dense = dense_volume(face.coarse_sdf, n)
    print(f"  (dense {n}^3 coarse SDF computed in {time.perf_counter() - t0:.0f} s; cached in {path})")
    cache.mkdir(parents=True, exist_ok=True)
    arrays = {"dense": dense, "strides": np.array(strides)}
    for s, (values, cubes, index) in zip(strides, captured):
        arrays[f"values_{s}"], arrays[f"cubes_{s}"] = values, cubes
        for d in range(3):
            arrays[f"index_{s}_{d}"] = index[d]
    np.savez(path, **arrays)
    return {"dense": dense, "sparse": [(s, *c) for s, c in zip(strides, captured)]}


def median_time(fn, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def skimage_mc(vol: np.ndarray, cubes: np.ndarray | None):
    """What ``grid.volume_to_mesh`` runs: skimage's marching cubes, restricted to ``cubes`` by its mask."""
    from skimage.measure import marching_cubes

    from imface_core.engine.grid import cube_mask_offset

    mask = None
    if cubes is not None:
        mask = np.zeros(vol.shape, dtype=bool)
        idx = cubes + cube_mask_offset()
        mask[idx[:, 0], idx[:, 1], idx[:, 2]] = True
    verts, faces, _, _ = marching_cubes(vol, 0.0, mask=mask)
    return verts, faces


def mcubes_mc(vol: np.ndarray):
    import mcubes

    return mcubes.marching_cubes(vol, 0.0)


def winding(verts: np.ndarray, faces: np.ndarray, vol: np.ndarray) -> float:
    """Share of triangles whose normal (right-hand rule) points up the SDF gradient (outwards)."""
    a, b, c = (verts[faces[:, k]] for k in range(3))
    normal = np.cross(b - a, c - a)
    grad = np.stack(np.gradient(vol), axis=-1)
    centre = np.clip(np.rint((a + b + c) / 3).astype(int), 0, np.array(vol.shape) - 1)
    g = grad[centre[:, 0], centre[:, 1], centre[:, 2]]
    return float(((normal * g).sum(axis=1) > 0).mean())


def compare(v_sk, f_sk, v_mc, f_mc, vol) -> str:
    from scipy.spatial import cKDTree

    if len(v_mc) == 0 or len(v_sk) == 0:
        return f"triangles {len(f_sk)} / {len(f_mc)}"
    d_mc = cKDTree(v_sk).query(v_mc)[0]
    d_sk = cKDTree(v_mc).query(v_sk)[0]
    return (f"triangles {len(f_sk)} / {len(f_mc)}, vertices {len(v_sk)} / {len(v_mc)}; vertex distance "
            f"(cells) mean {d_mc.mean():.2e} / {d_sk.mean():.2e}, max {d_mc.max():.2e} / {d_sk.max():.2e}; "
            f"outward triangles {100 * winding(v_sk, f_sk, vol):.1f} % / {100 * winding(v_mc, f_mc, vol):.1f} %")


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        import mcubes
    except ImportError:
        print("this benchmark needs PyMCubes: pip install PyMCubes")
        return 2
    import skimage

    print(f"scikit-image {skimage.__version__}, PyMCubes {getattr(mcubes, '__version__', '?')}; "
          f"{os.cpu_count()} logical cores; median of {args.repeats} after a warm-up; skimage / PyMCubes")
    for n in args.resolutions:
        data = workload(args.model, n, args.cache)
        dense = data["dense"]
        cases = [(f"dense {n}^3", dense, None, dense)]
        for stride, values, cubes, index in data["sparse"]:
            truth = dense[np.ix_(*index)]  # the true SDF at the box's samples
            cases.append((f"sparse {n}, stride {stride}: {len(cubes)} cells of a {'x'.join(map(str, values.shape))} box",
                          values, cubes, truth))
        for name, vol, cubes, truth in cases:
            load = os.getloadavg()[0]
            t_sk, (v_sk, f_sk) = median_time(lambda: skimage_mc(vol, cubes), args.repeats)
            t_mc, (v_mc, f_mc) = median_time(lambda: mcubes_mc(truth), args.repeats)
            load = max(load, os.getloadavg()[0])
            print(f"{name}: skimage {1e3 * t_sk:.1f} ms, PyMCubes {1e3 * t_mc:.1f} ms, "
                  f"PyMCubes / skimage {t_mc / t_sk:.2f}x (load {load:.2f})")
            print(f"    {compare(v_sk, f_sk, v_mc, f_mc, truth)}")
    print(f"uptime load averages at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
