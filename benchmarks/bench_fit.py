"""``imface fit`` of real scans, timed and scored, optionally against another version of the code in the same run.

    python benchmarks/bench_fit.py [SCAN ...] [--before TREE] [--out DIR] [--args "..."]

Runs the real command (``python -m imface_core fit SCAN --out ...``, jemalloc preloaded when present) once per
scan, and with ``--before TREE`` (a copy of another version's ``imface_core``, e.g. from ``git archive``) the same
command from that tree right after it, alternating which goes first: on a shared machine the load changes
between runs, so only ratios from one run mean much. Per run: wall and CPU seconds of the whole command, the
report's phase times (load, align, samples, optimise, mesh, metrics; what is left is start-up, the error map
and writing), Chamfer and F-score against the scan, the load average, and whether the alignment's reference face
was read from the user's cache (``stored``; the first fit with a model file computes it, ~2 s, and stores it). Scans default to
``../shared/data/facefuns/*.ply``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JEMALLOC = Path("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")


def run_fit(scan: Path, out: Path, tree: Path | None, extra: list[str]) -> dict:
    """One ``imface fit`` in a child process: its wall and CPU seconds, load and report."""
    env = dict(os.environ)
    if JEMALLOC.exists():
        env["LD_PRELOAD"] = str(JEMALLOC)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "imface_core", "fit", str(scan), "--out", str(out), *extra],
                          cwd=tree or ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"fit of {scan} failed:\n{done.stderr[-2000:]}")
    report = json.loads(out.with_name(out.name + "_report.json").read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "load": load, "timings": report["timings_s"],
            "chamfer_mm": report["metrics"]["chamfer_mm"], "fscore": report["metrics"]["fscore"],
            "steps": report["steps"], "reference": report["alignment"].get("reference", "computed")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scans", nargs="*", type=Path)
    parser.add_argument("--before", type=Path, help="a tree holding another version's imface_core")
    parser.add_argument("--out", type=Path, help="folder for the fits and results.json (default: a temporary one)")
    parser.add_argument("--args", default="", help="extra options for both commands, e.g. \"--steps 120\"")
    args = parser.parse_args()
    scans = [s.resolve() for s in args.scans] or sorted((ROOT.parent / "shared/data/facefuns").glob("*.ply"))
    out = (args.out or Path(tempfile.mkdtemp(prefix="bench_fit_"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    versions = {"now": None} if args.before is None else {"now": None, "before": args.before.resolve()}
    rows = []
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; results in {out}", flush=True)
    for i, scan in enumerate(scans):
        order = list(versions) if i % 2 == 0 else list(versions)[::-1]
        for name in order:
            r = run_fit(scan, out / f"{scan.stem}_{name}", versions[name], shlex.split(args.args))
            rows.append({"scan": scan.stem, "version": name, **r})
            t = r["timings"]
            phases = " ".join(f"{k} {t[k]:.1f}" for k in ("align", "samples", "optimise", "mesh", "metrics") if k in t)
            print(f"{scan.stem:>6} {name:>6}: wall {r['wall_s']:5.1f} s cpu {r['cpu_s']:5.1f} s (load {r['load']:.1f}) "
                  f"| {phases} | Chamfer {r['chamfer_mm']:.4f} mm F {r['fscore']:.1f} | reference {r['reference']}", flush=True)
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    if len(versions) == 2:
        def total(version, key):
            return sum(r[key] for r in rows if r["version"] == version)

        n = len(scans)
        print(f"mean Chamfer now {total('now', 'chamfer_mm') / n:.4f} mm, before {total('before', 'chamfer_mm') / n:.4f} mm; "
              f"now / before: wall {total('now', 'wall_s') / total('before', 'wall_s'):.2f}, "
              f"cpu {total('now', 'cpu_s') / total('before', 'cpu_s'):.2f}")


if __name__ == "__main__":
    main()
