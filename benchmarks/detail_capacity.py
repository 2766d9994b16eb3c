"""How fast does a refinement field fit its scans' detail, and what speeds it up? (``imface polish``'s steps on subsets)

    python benchmarks/detail_capacity.py --run RUN_DIR --data DATA_DIR [--scans 16 64 | --identities s0_003 s0_021]
        [--visits 200] [--points 1024] [--cache-points 6144] [--normal-weight W] [--lr 5e-4] [--focus F]
        [--fresh [--width W] [--code-dim D] [--frequency F] [--plane-channels C] [--person-code-std S]] [--save MODEL.pt]

For each subset (S scans spread over the training set, or every scan of the named identities), the run's own RDF
and z_det (or, with ``--fresh``, a new RDF of the given size and new codes) are trained on those scans alone with
the polish's linearised steps: all of them in every step, ``--points`` of ``--cache-points`` cached surface
points each, Adam at ``--lr`` (codes 2x) after a 50-step warm-up, so each scan is visited once per step. Prints
the exact fine-SDF error on other surface points of the same scans every 100 steps. Compare with the 800-scan
polish (``polish_metrics.jsonl``), whose scans are visited once every 12.5 steps. ``--save`` writes the model
after the last subset, for ``detail_residual.py`` (which shows whether it reproduces the wrinkles).
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
    subset = p.add_mutually_exclusive_group()
    subset.add_argument("--scans", type=int, nargs="+", default=[16, 64], help="subset sizes (one run each)")
    subset.add_argument("--identities", nargs="+", default=None, help="one run on every scan of these people")
    p.add_argument("--visits", type=int, default=200, help="steps = visits per scan")
    p.add_argument("--points", type=int, default=1024, help="cached points of each scan drawn per step")
    p.add_argument("--cache-points", type=int, default=6144, help="fixed surface points cached per scan")
    p.add_argument("--normal-weight", type=float, default=None, help="weight of the normal term (default: the run's)")
    p.add_argument("--lr", type=float, default=5e-4, help="learning rate of the field (codes: 2x)")
    p.add_argument("--focus", type=float, default=0.0,
                   help="share of each step's points drawn where the coarse model misses the scan most (probability "
                        "proportional to |coarse SDF| / mean + (1 - cos(coarse gradient, scan normal)) / mean); the "
                        "rest uniformly")
    p.add_argument("--fresh", action="store_true",
                   help="start from a fresh RDF and z_det (see --width, --code-dim, --frequency) instead of the run's")
    p.add_argument("--width", type=int, default=None, help="with --fresh: RDF mini-net width (default: the run's)")
    p.add_argument("--code-dim", type=int, default=None, help="with --fresh: z_det size (default: the run's)")
    p.add_argument("--frequency", type=float, default=None,
                   help="with --fresh: RDF first-layer frequency factor (default: the run's)")
    p.add_argument("--plane-channels", type=int, default=None,
                   help="with --fresh: channels of the RDF's detail plane (0: none; default: the run's); the plane "
                        "trains at lr x the run's lr_plane_scale")
    p.add_argument("--person-code-std", type=float, default=0.0,
                   help="with --fresh: z_det of a person's scans start from one shared random vector of this spread")
    p.add_argument("--save", type=Path, default=None, help="write the model after the last subset here")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from imface_core._fast_alloc import configure_allocator

    configure_allocator()
    import torch

    from imface_core.checkpoint import save_checkpoint
    from imface_core.training.detail_polish import (build_cache, detail_param_groups, exact_fine_error_mm,
                                                    linearised_fine_terms)
    from imface_core.training.losses import weighted_total
    from imface_core.training.trainer import Trainer

    work = Path(tempfile.mkdtemp(prefix="detail_capacity_"))
    shutil.copy(args.run / "checkpoint.pt", work / "checkpoint.pt")
    subsets = [None] if args.identities else args.scans
    for count in subsets:
        t = Trainer(args.data, work, None, resume=True, progress=False, device=torch.device("cpu"))
        net, codes, weights = t.net, t.codes, t.cfg.weights
        if args.normal_weight is not None:
            weights.normal = args.normal_weight
        if args.fresh:
            t.replace_detail_field(args.person_code_std, args.width, args.code_dim, args.frequency, args.plane_channels)
        for p in list(net.parameters()) + list(codes.parameters()):
            p.requires_grad_(False)
        if count is None:
            scans = np.array([i for i, s in enumerate(t.data.scans) if s.identity in set(args.identities)])
            if len(scans) == 0:
                raise SystemExit(f"no scans of {args.identities} in {args.data}")
        else:
            scans = np.linspace(0, len(t.data) - 1, count).round().astype(np.int64)
        batch = t.data.batch(scans, args.cache_points, 0, np.random.default_rng(0))
        identity = torch.from_numpy(batch["identity"])
        scan_ids = torch.from_numpy(scans)
        cache = build_cache(net, codes, torch.from_numpy(batch["surface"]), torch.from_numpy(batch["normals"]), identity,
                            scan_ids=scan_ids)
        check = torch.from_numpy(t.data.batch(scans, 2048, 0, np.random.default_rng(1))["surface"])
        line = [f"0: {exact_fine_error_mm(net, codes, check, scan_ids, identity):.4f}"]
        for p in net.detail_parameters() + [codes.det.weight]:
            p.requires_grad_(True)
        opt = torch.optim.Adam(detail_param_groups(net, codes, args.lr, 2 * args.lr, t.cfg.lr_plane_scale))
        gen = torch.Generator().manual_seed(0)
        focused = int(round(args.focus * args.points))
        if focused:
            miss = (cache.sdf - cache.target).abs()
            tilt = 1.0 - torch.nn.functional.cosine_similarity(cache.grad, cache.normals, dim=-1)
            focus_weights = miss / miss.mean() + tilt / tilt.mean()
        start = time.monotonic()
        for step in range(args.visits):
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * min(1.0, (step + 1) / 50)
            columns = torch.randint(0, args.cache_points, (len(scans), args.points - focused), generator=gen)
            if focused:
                picked = torch.multinomial(focus_weights, focused, replacement=True, generator=gen)
                columns = torch.cat([columns, picked], dim=1)
            part = cache.take(torch.arange(len(scans)), columns)
            terms = linearised_fine_terms(net, part, codes.det.weight[scan_ids])
            loss = weighted_total(terms, weights, coarse=0.0, fine=1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if (step + 1) % 100 == 0:
                line.append(f"{step + 1}: {exact_fine_error_mm(net, codes, check, scan_ids, identity):.4f}")
        what = (f"fresh RDF width {net.cfg.det_width}, z_det {net.cfg.det_dim}, frequency {net.cfg.det_first_omega0:g}, "
                f"detail plane {net.cfg.det_plane_channels} channels, person code spread {args.person_code_std:g}"
                if args.fresh else "the run's RDF")
        print(f"{what}; lr {args.lr:g}, normal weight {weights.normal:g}, focus {args.focus:g}, {args.points} of {args.cache_points} cached "
              f"points per scan and step; {len(scans)} scans, mean |exact fine SDF| (mm) after N visits per scan: "
              + ", ".join(line) + f" ({time.monotonic() - start:.0f} s)", flush=True)
    if args.save is not None:
        save_checkpoint(args.save, t.payload(with_training_state=False))
        print(f"wrote {args.save}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
