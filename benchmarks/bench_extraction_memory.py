"""Peak memory and time of ``imface generate`` per resolution, against the estimate it checks before work.

    python benchmarks/bench_extraction_memory.py [--resolutions 128 256 384] [--model M]

Each resolution runs in its own process (the real command, with jemalloc when the caller preloads it); the
peak resident memory comes from the kernel's accounting of that process (``os.wait4``). The estimate is
``imface_core.engine.memory.extraction_bytes``: a resolution whose measured peak exceeds it means the
constants there need raising.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from imface_core.engine.memory import extraction_bytes


def measure(resolution: int, model: str | None, out_dir: Path) -> tuple[float, float, int]:
    """(peak resident bytes, seconds, exit code) of one ``imface generate`` at ``resolution``."""
    cmd = [sys.executable, "-m", "imface_core", "generate", "--resolution", str(resolution),
           "--out", str(out_dir / f"face{resolution}.ply")]
    if model:
        cmd += ["--model", model]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    return usage.ru_maxrss * 1024.0, seconds, os.waitstatus_to_exitcode(status)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[128, 256, 384])
    parser.add_argument("--model", default=None, help="model file (default: the shipped model)")
    args = parser.parse_args()
    print(f"machine load (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    print(f"{'resolution':>10} {'peak GB':>8} {'estimate GB':>12} {'peak/estimate':>14} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for r in args.resolutions:
            peak, seconds, code = measure(r, args.model, Path(tmp))
            est = extraction_bytes(r)
            note = "" if code == 0 else f"  (exit code {code})"
            print(f"{r:>10} {peak / 1e9:>8.2f} {est / 1e9:>12.2f} {peak / est:>14.2f} {seconds:>8.1f}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
