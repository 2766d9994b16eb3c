"""Make the CPU path fast by default: keep glibc from mapping/unmapping big tensors on every op.

With glibc's default thresholds every large torch temporary is mmap'ed and
unmapped again, which costs ~2.5x on a 2-core CPU.  Raising the mmap and trim
thresholds at start-up (``mallopt``) keeps freed memory in the heap for reuse.
jemalloc via LD_PRELOAD does the same job; when it is loaded we leave it alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_THRESHOLD_BYTES = 1 << 30  # 1 GiB: effectively "never mmap a tensor"

_configured = False


def configure_allocator() -> bool:
    """Raise glibc's mmap/trim thresholds once per process. Returns True when applied."""
    global _configured
    if _configured:
        return True
    _configured = True
    if not sys.platform.startswith("linux"):
        return False
    if "jemalloc" in os.environ.get("LD_PRELOAD", ""):
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok_trim = libc.mallopt(_M_TRIM_THRESHOLD, _THRESHOLD_BYTES)
        # glibc caps M_MMAP_THRESHOLD at 32 MiB on 64-bit (HEAP_MAX/2); use the cap.
        ok_mmap = libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
        return bool(ok_trim and ok_mmap)
    except (OSError, AttributeError):
        return False
