"""Benchmark of the inference engine (the same run as ``imface bench``).

    python benchmarks/bench_engine.py                        # shipped model, 256, 3 repeats (minutes)
    python benchmarks/bench_engine.py --resolution 96 --baseline-resolution 64 --repeats 1 --model RUN/model.pt
"""

from __future__ import annotations

import sys

from imface_core.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
