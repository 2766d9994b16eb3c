"""For the GUI benchmarks: re-run the script on a virtual X display (``xvfb-run``) when there is none."""

from __future__ import annotations

import os
import shutil
import sys

UNDER_XVFB = "BENCH_UNDER_XVFB"
"""Set in the environment of a benchmark that was re-run under Xvfb (software OpenGL)."""


def rerun_under_xvfb(script: str) -> None:
    """Replace this process with ``xvfb-run python <argv>`` on Linux without $DISPLAY; else return."""
    if not sys.platform.startswith("linux") or os.environ.get("DISPLAY"):
        return
    if shutil.which("xvfb-run") is None:
        sys.exit(f"{script} needs a display: run it in a desktop session or install xvfb-run")
    os.environ[UNDER_XVFB] = "1"
    os.execvp("xvfb-run", ["xvfb-run", "-a", "-s", "-screen 0 1920x1200x24", sys.executable, *sys.argv])
