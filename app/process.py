"""Process-wide set-up of the editor, shared by ``main.py`` and ``benchmarks/bench_editor.py`` (no Qt).

* ``responsive_gil``: the GUI thread and the mesh worker share Python's GIL; with the default 5 ms switch
  interval the GUI thread waits longer for it whenever the worker runs numpy-heavy Python. A 1 ms interval
  halves the GUI stalls over 50 ms and shortens slider-to-screen latency (measured with bench_editor.py).
"""

from __future__ import annotations

import sys

__all__ = ["responsive_gil"]

SWITCH_INTERVAL_S = 0.001


def responsive_gil(interval_s: float = SWITCH_INTERVAL_S) -> None:
    """Set Python's thread switch interval (``sys.setswitchinterval``) for an interactive process."""
    sys.setswitchinterval(interval_s)
