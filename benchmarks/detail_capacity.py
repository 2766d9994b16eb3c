"""Does one shared refinement field fit many scans' detail as fast as a few? (``imface polish``'s steps on subsets)

    python benchmarks/detail_capacity.py --run RUN_DIR --data DATA_DIR [--scans 16 64] [--visits 200]

For each subset size S (scans spread over the training set), the run's own RDF and z_det are trained on those S
scans alone with the polish's linearised steps (all S scans in every step, 1,024 of 6,144 cached surface points
each, Adam 5e-4 / 1e-3 after a 50-step warm-up), so each scan is visited once per step. Prints the exact
fine-SDF error on other surface points of the same scans every 100 steps. Compare with the 800-scan polish
(``polish_metrics.jsonl``), whose scans are visited once every 12.5 steps.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True, help="training run folder with checkpoint.pt")
    p.add_argument("--data", type=Path, required=True, help="the prepared data the run was trained on")
    p.add_argument("--scans", type=int, nargs="+", default=[16, 64])
    p.add_argument("--visits", type=int, default=200, help="steps = visits per scan")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from imface_core._fast_alloc import configure_allocator

    configure_allocator()
    import torch

    from imface_core.training.detail_polish import build_cache, exact_fine_error_mm, linearised_fine_terms
    from imface_core.training.losses import weighted_total
    from imface_core.training.trainer import Trainer

    work = Path(tempfile.mkdtemp(prefix="detail_capacity_"))
    shutil.copy(args.run / "checkpoint.pt", work / "checkpoint.pt")
    for count in args.scans:
        t = Trainer(args.data, work, None, resume=True, progress=False, device=torch.device("cpu"))
        net, codes = t.net, t.codes
        for p in list(net.parameters()) + list(codes.parameters()):
            p.requires_grad_(False)
        scans = np.linspace(0, len(t.data) - 1, count).round().astype(np.int64)
        batch = t.data.batch(scans, 6144, 0, np.random.default_rng(0))
        identity = torch.from_numpy(batch["identity"])
        scan_ids = torch.from_numpy(scans)
        cache = build_cache(net, codes, torch.from_numpy(batch["surface"]), torch.from_numpy(batch["normals"]), identity,
                            scan_ids=scan_ids)
        check = torch.from_numpy(t.data.batch(scans, 2048, 0, np.random.default_rng(1))["surface"])
        line = [f"0: {exact_fine_error_mm(net, codes, check, scan_ids, identity):.4f}"]
        for p in net.detail_parameters() + [codes.det.weight]:
            p.requires_grad_(True)
        opt = torch.optim.Adam([{"params": net.detail_parameters(), "lr": 5e-4, "base": 5e-4},
                                {"params": [codes.det.weight], "lr": 1e-3, "base": 1e-3}])
        gen = torch.Generator().manual_seed(0)
        start = time.monotonic()
        for step in range(args.visits):
            for group in opt.param_groups:
                group["lr"] = group["base"] * min(1.0, (step + 1) / 50)
            part = cache.take(torch.arange(count), torch.randint(0, 6144, (count, 1024), generator=gen))
            terms = linearised_fine_terms(net, part, codes.det.weight[scan_ids])
            loss = weighted_total(terms, t.cfg.weights, coarse=0.0, fine=1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if (step + 1) % 100 == 0:
                line.append(f"{step + 1}: {exact_fine_error_mm(net, codes, check, scan_ids, identity):.4f}")
        print(f"{count} scans, mean |exact fine SDF| (mm) after N visits per scan: " + ", ".join(line)
              + f" ({time.monotonic() - start:.0f} s)", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
