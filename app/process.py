"""Process-wide set-up of the editor, shared by ``main.py`` and ``benchmarks/bench_editor.py`` (no Qt).

* ``responsive_gil``: the GUI thread and the mesh worker share Python's GIL; with the default 5 ms switch
  interval the GUI thread waits longer for it whenever the worker runs numpy-heavy Python. A 1 ms interval
  halves the GUI stalls over 50 ms and shortens slider-to-screen latency (measured with bench_editor.py).
* ``prefetch_engine``: imports the computing side (torch, the engine) on a second thread while the GUI side
  (Qt, VTK) loads, so the model loader finds it imported; about a second earlier to the first face.
"""

from __future__ import annotations

import logging
import sys
import threading

__all__ = ["prefetch_engine", "responsive_gil"]

_log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.001


def responsive_gil(interval_s: float = SWITCH_INTERVAL_S) -> None:
    """Set Python's thread switch interval (``sys.setswitchinterval``) for an interactive process."""
    sys.setswitchinterval(interval_s)


def _import_engine() -> None:
    try:
        import app.engine  # noqa: F401
    except Exception:  # noqa: BLE001 (the model loader reports problems properly)
        _log.debug("prefetching the engine failed", exc_info=True)


def prefetch_engine() -> threading.Thread:
    """Start importing ``app.engine`` (torch and all) on a daemon thread; returns the thread.

    The modules both threads need (numpy, trimesh, pyvista) are imported here first: two threads
    importing the same package with circular inner imports can each see the other's half-initialised
    module ("cannot import name 'global_theme' from 'pyvista'").
    """
    import numpy  # noqa: F401
    import pyvista  # noqa: F401
    import trimesh  # noqa: F401

    thread = threading.Thread(target=_import_engine, name="prefetch-engine", daemon=True)
    thread.start()
    return thread
