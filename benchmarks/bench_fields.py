"""Time ImFaceNet forward passes on the CPU: points per second for one field, coarse and fine.

Width 64, K=5, depth 3 (the ``ModelConfig`` defaults), 65,536 points of one scan,
under ``torch.no_grad``. Run: ``python benchmarks/bench_fields.py [--threads N]``
(about 10 s on 2 idle cores). Numbers are meaningless while other jobs load the CPU.
"""

from __future__ import annotations

import argparse
import time

import torch

from imface_core.allocator import configure_allocator
from imface_core.model import ImFaceNet, ModelConfig

NUM_POINTS = 65536


def _time(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    configure_allocator()
    torch.manual_seed(0)
    cfg = ModelConfig()  # width 64, depth 3, K=5 for every field
    net = ImFaceNet(cfg, torch.randn(5, 3) * 0.3, torch.randn(68, 3) * 0.3).eval()
    x = torch.rand(1, NUM_POINTS, 3) * 2 - 1
    z_id, z_exp, z_det = (torch.randn(1, d) * 0.01 for d in (cfg.id_dim, cfg.exp_dim, cfg.det_dim))
    with torch.no_grad():
        lm = net.predict_landmarks(z_id, z_exp)
        anchors = net.template_landmarks5.expand(1, -1, -1)
        runs = {
            "one field (T)": (lambda: net.template_field(x, anchors), 3),
            "coarse": (lambda: net.coarse(x, z_id, z_exp, lm), 3),
            "fine": (lambda: net.fine(x, z_id, z_exp, z_det, lm), 2),
        }
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {NUM_POINTS} points, "
              f"width {cfg.tmpl_width}, depth {cfg.tmpl_depth}, fusion {cfg.fusion_width}")
        for name, (fn, repeats) in runs.items():
            t = _time(fn, repeats)
            print(f"{name:>14}: {t * 1e3:7.1f} ms  {NUM_POINTS / t / 1e3:7.1f} k points/s")


if __name__ == "__main__":
    main()
