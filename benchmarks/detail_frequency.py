"""Can the refinement field (RDF) make one scan's wrinkles, and does its first-layer frequency matter?

    python benchmarks/detail_frequency.py --run RUN_DIR --data DATA_DIR [--scan s0_003/6_brow_raise]
        [--omegas 30 120] [--steps 250] [--render detail_frequency.png]

RUN_DIR holds a training ``checkpoint.pt`` of DATA_DIR (e.g. the shipped model's run). For each first-layer
frequency factor (``ModelConfig.det_first_omega0``) the RDF and the scan's z_det are re-initialised, the
rest of the model is frozen, and only they are trained on that one scan (4,096 surface + 256 free points
per step, Adam 5e-4 / 1e-3, stage-2 loss weights after the hand-over). Prints the mean |fine SDF| on a fixed set of the
scan's surface points (mm) as training goes, next to the trained model's own RDF; ``--render`` writes the
scan's face from each.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True, help="training run folder with checkpoint.pt")
    p.add_argument("--data", type=Path, required=True, help="the prepared data the run was trained on")
    p.add_argument("--scan", default="s0_003/6_brow_raise", help="IDENTITY/FILE_STEM of the scan to fit")
    p.add_argument("--omegas", type=float, nargs="+", default=[30.0, 120.0])
    p.add_argument("--steps", type=int, default=250)
    p.add_argument("--render", type=Path, default=None, help="PNG of the scan's face from each RDF")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from imface_core._fast_alloc import configure_allocator

    configure_allocator()
    import torch

    from imface_core.model.blend_field import NeuralBlendField
    from imface_core.training.losses import weighted_total
    from imface_core.training.trainer import Trainer, batch_to_tensors

    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="detail_frequency_"))
    shutil.copy(args.run / "checkpoint.pt", work / "checkpoint.pt")
    t = Trainer(args.data, work, None, resume=True, progress=False, device=torch.device("cpu"))
    names = [f"{s.identity}/{s.path.stem}" for s in t.data.scans]
    if args.scan not in names:
        print(f"scan {args.scan} is not in {args.data} (e.g. {names[0]})", file=sys.stderr)
        return 2
    scan = names.index(args.scan)
    w_coarse, w_fine = t.cfg.coarse_floor, 1.0  # the stage-2 weights after the hand-over
    fixed = batch_to_tensors(t.data.batch(np.array([scan]), 8192, 0, np.random.default_rng(7)), t.device)
    cfg = t.net.cfg
    for p in list(t.net.parameters()) + list(t.codes.parameters()):
        p.requires_grad_(False)
    original_field, original_det = t.net.detail_field, t.codes.det.weight[scan].clone()

    def fine_error_mm() -> float:
        with torch.no_grad():
            z_id, z_exp, z_det = (t.codes.id.weight[fixed["identity"]], t.codes.exp.weight[fixed["scan"]],
                                  t.codes.det.weight[fixed["scan"]])
            out = t.net.fine(fixed["surface"], z_id, z_exp, z_det)
        return float(out["sdf"].detach().abs().mean() * 100.0)

    results = {"trained model": (fine_error_mm(), original_field, original_det)}
    print(f"trained model's own RDF: mean |fine SDF| on the scan {results['trained model'][0]:.4f} mm", flush=True)
    rng = np.random.default_rng(0)
    table = t.codes.det.weight
    for omega in args.omegas:
        torch.manual_seed(0)
        field = NeuralBlendField(1, cfg.det_dim, num_regions=cfg.num_regions, width=cfg.det_width, depth=cfg.det_depth,
                                 omega0=cfg.omega0, fusion_width=cfg.fusion_width, zero_init_output=True,
                                 mapping_width=cfg.mapping_width, first_omega0=omega)
        t.net.detail_field = field
        with torch.no_grad():
            table[scan].normal_(0.0, t.cfg.code_init_std)
        # Only this scan's row of the z_det table gets gradients, so Adam leaves the other rows as they are.
        table.requires_grad_(True)
        opt = torch.optim.Adam([{"params": list(field.parameters()), "lr": 5e-4}, {"params": [table], "lr": 1e-3}])
        line = []
        for step in range(args.steps + 1):
            if step % 50 == 0:
                line.append(f"{step}: {fine_error_mm():.4f}")
            if step == args.steps:
                break
            batch = batch_to_tensors(t.data.batch(np.array([scan]), 4096, 256, rng), t.device)
            loss = weighted_total(t.model(batch, fine=True), t.cfg.weights, w_coarse, w_fine)
            opt.zero_grad()
            loss.backward()
            opt.step()
        table.requires_grad_(False)
        print(f"first-layer omega {omega:g}: mean |fine SDF| (mm) at step " + ", ".join(line), flush=True)
        results[f"omega {omega:g}"] = (fine_error_mm(), field, table[scan].detach().clone())
    if args.render:
        _render(t, scan, results, args.render)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def _render(t, scan, results, path: Path) -> None:
    import pyvista

    from imface_core import FaceModel

    model = FaceModel.load(t.out_dir / "checkpoint.pt", device="cpu")
    info = t.data.scans[scan]
    plotter = pyvista.Plotter(off_screen=True, shape=(1, len(results)), window_size=(520 * len(results), 700))
    for col, (name, (err, field, z_det)) in enumerate(results.items()):
        model.net.detail_field = field.eval().requires_grad_(False)
        codes = replace(model.codes(info.identity, info.expression),
                        z_det=z_det.detach().cpu().numpy().astype(np.float32))
        mesh = model.mesh(codes, resolution=192, method="displace")
        plotter.subplot(0, col)
        plotter.add_mesh(pyvista.wrap(mesh), color=(0.89, 0.70, 0.58), smooth_shading=True, specular=0.25)
        plotter.add_text(f"{name}: {err:.3f} mm", font_size=10)
        plotter.view_xy()
        plotter.camera.zoom(2.0)
        plotter.camera.Elevation(15)
    plotter.screenshot(str(path))
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
