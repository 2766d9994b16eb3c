"""Wrinkle detail of a model: the share of its training scans' fine-band detail its refinement field reproduces.

    python benchmarks/detail_residual.py --models A.pt [B.pt ...] --data DATA_TRAIN \
        [--scans s0_003/6_brow_raise s0_021/7_brow_lower] [--render residual.png]

For each training scan and model: the coarse surface (marching cubes, no detail) and, per vertex, what the
refinement field does there (the editor's ``method="displace"`` mesh: the signed move along the vertex normal)
against what it should do (the signed distance from the coarse vertex to the scan along the scan's normal:
the residual). Both are split into a smooth band (Gaussian average over ``--sigma-mm``, default 2.5 mm) and the
rest, the fine band, where the synthetic wrinkles (grooves 5-12 mm apart, ~2 mm wide) and pores live. Printed per
face and band: the RMS of the residual and of the displacement (mm), their correlation, and the share of the
residual's energy that the displacement removes (1 - |residual - displacement|^2 / |residual|^2; 0 = nothing,
1 = all). Wrinkles are visible when the fine band's share is well above 0. ``--render`` draws the fine band of
the displacement of each model next to that of the residual.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

NEAR_SCAN_MM = 3.0
"""Coarse vertices farther than this from every scan sample (outside the scan's crop) are left out."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, nargs="+", required=True)
    p.add_argument("--labels", nargs="+", default=None)
    p.add_argument("--data", type=Path, required=True, help="the prepared training data")
    p.add_argument("--scans", nargs="+", default=["s0_003/6_brow_raise", "s0_021/7_brow_lower"],
                   help="IDENTITY/FILE_STEM of training scans")
    p.add_argument("--resolution", type=int, default=256)
    p.add_argument("--sigma-mm", type=float, default=2.5, help="width of the smooth band's Gaussian (mm)")
    p.add_argument("--render", type=Path, default=None, help="PNG of the fine bands")
    return p.parse_args(argv)


def gaussian_average(vertices: np.ndarray, valid: np.ndarray, sigma: float):
    """The Gaussian-weighted average over valid vertices within 3 sigma, as a function of per-vertex values
    (one sparse KD-tree matrix, built once per mesh)."""
    from scipy.sparse import csr_matrix
    from scipy.spatial import cKDTree

    src = np.flatnonzero(valid)
    rng = np.random.default_rng(0)
    src = src[rng.permutation(len(src))[: min(len(src), 40000)]]  # ~every 2nd vertex: plenty for a 2.5 mm blur
    pairs = cKDTree(vertices).sparse_distance_matrix(cKDTree(vertices[src]), 3.0 * sigma, output_type="coo_matrix")
    w = csr_matrix((np.exp(-0.5 * (pairs.data / sigma) ** 2), (pairs.row, pairs.col)), shape=(len(vertices), len(src)))
    total = np.maximum(np.asarray(w.sum(axis=1)).ravel(), 1e-12)
    return lambda values: np.asarray(w @ values[src]).ravel() / total


def band_numbers(residual: np.ndarray, moved: np.ndarray) -> dict[str, float]:
    """RMS (mm), correlation and removed energy share of one band (mm inputs)."""
    energy = float(np.sum(residual**2))
    return {
        "rms_residual": float(np.sqrt(np.mean(residual**2))),
        "rms_displacement": float(np.sqrt(np.mean(moved**2))),
        "correlation": float(np.corrcoef(residual, moved)[0, 1]) if moved.std() > 0 else 0.0,
        "removed": 1.0 - float(np.sum((residual - moved) ** 2)) / max(energy, 1e-12),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render is not None:
        from _display import rerun_under_xvfb  # beside this script (python puts its folder on the path)

        rerun_under_xvfb("detail_residual.py")
    from imface_core.allocator import configure_allocator

    configure_allocator()
    import trimesh
    from scipy.spatial import cKDTree

    from imface_core import FaceModel
    from imface_core.engine.displacement import displace_surface
    from imface_core.engine.field import FaceField

    labels = args.labels or [m.parent.name if m.name in ("model.pt", "checkpoint.pt") else m.stem for m in args.models]
    models = [FaceModel.load(m, device="cpu") for m in args.models]
    sigma = args.sigma_mm / 100.0
    panels = []  # (row, col, mesh, values, title)
    for row, scan in enumerate(args.scans):
        identity, stem = scan.split("/")
        expression = stem.split("_", 1)[1]
        target = trimesh.load(args.data / identity / f"{stem}.ply")
        samples, faces = trimesh.sample.sample_surface(target, 400_000, seed=0)
        sample_normals, tree = target.face_normals[faces], cKDTree(samples)
        for col, (label, model) in enumerate(zip(labels, models)):
            codes = model.codes(identity, expression)
            coarse = model.mesh(codes, resolution=args.resolution, detail=False)
            # the editor's method="displace" mesh, on this coarse mesh (same vertices, no second extraction)
            fine, _ = displace_surface(FaceField(model, codes), coarse)
            v, n = np.asarray(coarse.vertices), np.asarray(coarse.vertex_normals)
            moved = 100.0 * np.einsum("ij,ij->i", np.asarray(fine.vertices) - v, n)
            dist, nearest = tree.query(v)
            residual = 100.0 * np.einsum("ij,ij->i", samples[nearest] - v, sample_normals[nearest])
            valid = dist < NEAR_SCAN_MM / 100.0
            smooth = gaussian_average(v, valid, sigma)
            residual_smooth, moved_smooth = smooth(residual), smooth(moved)
            bands = {
                "smooth": band_numbers(residual_smooth[valid], moved_smooth[valid]),
                "fine": band_numbers((residual - residual_smooth)[valid], (moved - moved_smooth)[valid]),
            }
            for band, b in bands.items():
                print(f"{scan} {label} {band:>6} band: RMS residual {b['rms_residual']:.3f} mm, displacement "
                      f"{b['rms_displacement']:.3f} mm, correlation {b['correlation']:+.3f}, "
                      f"residual energy removed {100 * b['removed']:+.1f} %", flush=True)
            fine_moved = np.where(valid, moved - moved_smooth, np.nan)
            panels.append((row, col, coarse, fine_moved, f"{label} {scan}: fine band of the field"))
            if col == len(models) - 1:
                panels.append((row, col + 1, coarse, np.where(valid, residual - residual_smooth, np.nan),
                               f"{scan}: fine band of scan - coarse"))
    if args.render is not None:
        _render(panels, len(args.scans), len(models) + 1, args.render)
    return 0


def _render(panels, rows: int, columns: int, out: Path) -> None:
    import pyvista

    plotter = pyvista.Plotter(off_screen=True, shape=(rows, columns), window_size=(420 * columns, 480 * rows))
    for row, col, mesh, values, title in panels:
        plotter.subplot(row, col)
        surface = pyvista.wrap(mesh)
        surface["fine band (mm)"] = values
        plotter.add_mesh(surface, scalars="fine band (mm)", clim=[-0.3, 0.3], cmap="RdBu", nan_color="lightgray",
                         show_scalar_bar=(row, col) == (rows - 1, columns - 1))
        plotter.add_text(title, font_size=8)
        plotter.view_xy()
        plotter.camera.zoom(1.6)
    plotter.screenshot(str(out))
    print(f"wrote {out}")


if __name__ == "__main__":
    raise SystemExit(main())
