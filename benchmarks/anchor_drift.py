"""Do the predicted landmarks stay on the scans' landmarks in a long run? Two trainings side by side.

    python benchmarks/anchor_drift.py --data DATA [--config scale] [--steps 2000] [--every 100]

Trains two runs from the same seed on the same prepared scans, one step of each in turn (so both see the same
machine load): one where the geometry and consistency terms move the landmarks that anchor the blend fields
(``TrainConfig.landmark_anchor_gradients`` True: the paper's joint training) and one where only the landmark
terms train the landmark nets (False, the default). Every ``--every`` steps it prints, for each run, the landmark
net's L1 error (``landmark_exp``, normalised units: 1 = 100 mm) and the SDF error (mm), and, for the joint run,
how strongly each term pulls P_exp: the norm of the gradient on P_exp's weights from the geometry and consistency
terms against that from the landmark term (both as weighted in the total loss).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def pull_ratio(trainer, seed: int) -> float:
    """|grad of (total - landmark terms) on P_exp| / |grad of the landmark_exp term on P_exp| for one batch
    (drawn with its own generator, so that the run's own sampling goes on as without this measure)."""
    import numpy as np
    import torch

    from imface_core.training.trainer import batch_to_tensors
    from imface_core.training.losses import weighted_total

    cfg = trainer.cfg
    rng = np.random.default_rng(seed)
    scans = rng.choice(len(trainer.data), cfg.batch_scans, replace=False)
    batch = batch_to_tensors(trainer.data.batch(scans, cfg.surface_points, cfg.free_points, rng), trainer.device)
    terms = trainer.objective(batch, fine=False)
    landmark = cfg.weights.landmark_exp * terms["landmark_exp"]
    rest = weighted_total(terms, cfg.weights) - landmark - cfg.weights.landmark_id * terms["landmark_id"]
    params = list(trainer.net.landmark_net_exp.parameters())
    g_rest = torch.autograd.grad(rest, params, retain_graph=True)
    g_lm = torch.autograd.grad(landmark, params)
    norm = lambda grads: float(torch.sqrt(sum((g * g).sum() for g in grads)))  # noqa: E731
    return norm(g_rest) / max(norm(g_lm), 1e-12)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="prepared scans (imface prep)")
    parser.add_argument("--config", default="scale", help="training preset (default: scale)")
    parser.add_argument("--steps", type=int, default=2000, help="steps of each run (default: 2000)")
    parser.add_argument("--every", type=int, default=100, help="print every N steps (default: 100)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO_ROOT))
    from imface_core.allocator import configure_allocator

    configure_allocator()
    import torch

    from imface_core.training.config import preset
    from imface_core.training.trainer import Trainer

    cfg = preset(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for name, joint in (("joint", True), ("landmarks only", False)):
            run_cfg = replace(cfg, landmark_anchor_gradients=joint, checkpoint_minutes=1e9)
            runs[name] = Trainer(args.data, Path(tmp) / name.replace(" ", "_"), run_cfg, device=torch.device("cpu"),
                                 progress=False)
        print(f"{len(runs['joint'].data)} scans, config {args.config}, {args.steps} steps each")
        print(f"{'step':>6} | {'joint: landmark_exp':>20} {'sdf mm':>7} {'pull':>6} | "
              f"{'landmarks only: landmark_exp':>28} {'sdf mm':>7}")
        start = time.perf_counter()
        records = {}
        for step in range(1, args.steps + 1):
            for name, trainer in runs.items():
                records[name] = trainer.train_step()
            if step % args.every == 0 or step == args.steps:
                ratio = pull_ratio(runs["joint"], step)
                j, s = records["joint"], records["landmarks only"]
                print(f"{step:>6} | {j['landmark_exp']:>20.4f} {j['sdf'] * 100:>7.3f} {ratio:>6.1f} | "
                      f"{s['landmark_exp']:>28.4f} {s['sdf'] * 100:>7.3f}   ({time.perf_counter() - start:.0f} s)",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
