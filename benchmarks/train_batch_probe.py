"""Training steps per second of a run at several batch sizes (to pick ``--batch-scans`` etc. for a device).

    python benchmarks/train_batch_probe.py --run RUN --data DATA [--device cuda]
        [--batches "32,2048,512;64,4096,1024;128,4096,1024"] [--steps 20]

Resumes a copy of RUN's ``checkpoint.pt`` (RUN itself is not touched), and for each batch
(scans, surface points, free points per scan) takes 4 warm-up steps and times ``--steps`` more.
Prints steps/s, scans visited per second (what matters for the per-scan codes) and the peak device
memory. The shipped model's GPU continuation used the batch this reported best on one H200.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path


def parse_batches(text: str) -> list[tuple[int, int, int]]:
    try:
        batches = [tuple(int(v) for v in part.split(",")) for part in text.split(";") if part.strip()]
    except ValueError:
        batches = []
    if not batches or any(len(b) != 3 or min(b) < 1 for b in batches):
        raise argparse.ArgumentTypeError(f"expected 'SCANS,SURFACE,FREE;...' with positive numbers, got {text!r}")
    return batches


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True, help="training run folder with checkpoint.pt")
    p.add_argument("--data", type=Path, required=True, help="the prepared data the run was trained on")
    p.add_argument("--batches", type=parse_batches, default=parse_batches("32,2048,512;64,4096,1024;128,4096,1024"))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    args = p.parse_args(argv)
    from imface_core.allocator import configure_allocator

    configure_allocator()
    import torch

    from imface_core.compute import resolve_device
    from imface_core.training.trainer import Trainer

    device = resolve_device(args.device)
    work = Path(tempfile.mkdtemp(prefix="batch_probe_"))
    try:
        shutil.copy(args.run / "checkpoint.pt", work / "checkpoint.pt")
        t0 = time.perf_counter()
        trainer = Trainer(args.data, work, None, resume=True, progress=False, device=device,
                          resume_overrides=dict(stage2_steps=10**6))  # never reaches the end of its schedule
        print(f"{args.run.name} at step {trainer.step}, data loaded in {time.perf_counter() - t0:.1f} s, on {device}")

        def sync() -> None:
            if device.type == "cuda":
                torch.cuda.synchronize()

        for scans, surface, free in args.batches:
            trainer.sampler.batch = min(scans, len(trainer.sampler.scan_ids))
            trainer.cfg.surface_points, trainer.cfg.free_points = surface, free
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            for _ in range(4):
                trainer.train_step()
            sync()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                trainer.train_step()
            sync()
            rate = args.steps / (time.perf_counter() - t0)
            memory = f"; peak {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if device.type == "cuda" else ""
            print(f"{scans} scans x ({surface} + {free}) points: {rate:.2f} steps/s, "
                  f"{rate * trainer.sampler.batch:.0f} scans/s, {rate * scans * (surface + free) / 1e6:.2f}M points/s{memory}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
