"""Does the expression field learn? Short trainings on a small subset with other code scales / disentangle weights.

    python benchmarks/expression_ablation.py --data DATA_TRAIN [--steps 300] \
        --runs "1:10000" "100:10000" "100:300"          # code_scale:disentangle pairs

Builds a subset of 6 people x 6 expressions (symlinks) in a temporary folder, trains the ``tiny`` architecture
(stage 1 only, 8 scans x 768 points per step) once per pair, and prints per expression the mean length of E's
displacement (mm) and the mean |SDF| (mm) on the scans' surface points. This is the measurement behind the
presets' ``code_scale`` (100) and ``LossWeights.disentangle`` (300).
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from imface_core._fast_alloc import configure_allocator
from imface_core.training.config import preset
from imface_core.training.trainer import Trainer

EXPRESSIONS = ("1_neutral", "2_smile", "3_jaw_open", "4_pucker", "6_brow_raise", "8_eyes_closed")


def make_subset(data: Path, out: Path, people: int) -> None:
    for person in sorted(p for p in data.iterdir() if p.is_dir())[:people]:
        (out / person.name).mkdir(parents=True)
        for name in EXPRESSIONS:
            for suffix in (".npz", ".ply"):
                src = person / f"{name}{suffix}"
                if src.exists():
                    (out / person.name / src.name).symlink_to(src.resolve())


def run(subset: Path, out: Path, code_scale: float, disentangle: float, steps: int) -> dict[str, tuple[float, float]]:
    cfg = preset("tiny")
    cfg = replace(cfg, model=replace(cfg.model, code_scale=code_scale),
                  weights=replace(cfg.weights, disentangle=disentangle), stage1_steps=steps, stage2_steps=0,
                  batch_scans=8, surface_points=512, free_points=256, max_surface_points_in_memory=20_000,
                  log_every=50, checkpoint_minutes=1e9)
    trainer = Trainer(subset, out, cfg, progress=False)
    trainer.run()
    net, codes = trainer.net.eval(), trainer.codes
    rows: dict[str, list[tuple[float, float]]] = {}
    for i, scan in enumerate(trainer.data.scans):
        x = torch.from_numpy(np.load(scan.path)["surface_points"][:3000]).float()[None]
        z_id = codes.id(torch.tensor([trainer.data.identities.index(scan.identity)]))
        z_exp = codes.exp(torch.tensor([i]))
        with torch.no_grad():
            o = net.coarse(x, z_id, z_exp)
        rows.setdefault(scan.expression, []).append(((o["x_c"] - x).norm(dim=-1).mean().item() * 100,
                                                     o["sdf"].abs().mean().item() * 100))
    return {k: tuple(np.mean(v, axis=0)) for k, v in rows.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="prepared training data (imface prep)")
    p.add_argument("--people", type=int, default=6)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--runs", nargs="+", default=["1:10000", "100:10000", "100:300"], help="code_scale:disentangle")
    args = p.parse_args(argv)
    configure_allocator()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        subset = Path(tmp) / "subset"
        make_subset(args.data, subset, args.people)
        for k, spec in enumerate(args.runs):
            scale, weight = (float(v) for v in spec.split(":"))
            torch.manual_seed(0)
            result = run(subset, Path(tmp) / f"run{k}", scale, weight, args.steps)
            print(f"code_scale {scale:g}, disentangle {weight:g}:")
            for name, (e_mm, sdf_mm) in result.items():
                print(f"  {name:12s} E {e_mm:5.2f} mm   |SDF| {sdf_mm:5.3f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
