"""How much memory a mesh extraction needs, and whether this machine has it (checked before any work).

The sparse extractor keeps dense per-voxel arrays at the grid resolution N (field values and flags per
field, a scratch index array, the meshed sub-volume), so its peak grows as N^3. Measured peak resident
memory of ``imface generate`` with the shipped model (``python benchmarks/bench_extraction_memory.py``):
0.70 GB at 128, 0.95 GB at 256, 1.9 GB at 384, about 3.6 GB at 512 (the process itself, model included,
takes about 0.66 GB): about 21 bytes per voxel on top of the process.
"""

from __future__ import annotations

import os

from imface_core.errors import ResourceError

__all__ = ["BYTES_PER_VOXEL", "PROCESS_BYTES", "available_memory_bytes", "check_extraction_memory",
           "extraction_bytes"]

BYTES_PER_VOXEL = 22.0
"""Peak bytes per voxel of the N^3 grid (21 measured at 384, rounded up)."""
PROCESS_BYTES = 0.7e9
"""The process before extraction: Python, torch and a loaded model."""
USABLE_SHARE = 0.9
"""Refuse an extraction that needs more than this share of the memory available now."""


def extraction_bytes(resolution: int, loaded: bool = False) -> float:
    """Estimated peak memory (bytes) of extracting one face at ``resolution``: the whole process's, or only
    what the extraction adds when the model is ``loaded`` already."""
    return (0.0 if loaded else PROCESS_BYTES) + BYTES_PER_VOXEL * float(resolution) ** 3


def available_memory_bytes() -> float | None:
    """Memory available to new allocations now (``MemAvailable`` on Linux), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_extraction_memory(resolution: int, loaded: bool = False, available: float | None = None) -> float:
    """Raise ``ResourceError`` when an extraction at ``resolution`` would not fit; returns the estimate
    (see ``extraction_bytes`` for ``loaded``)."""
    need = extraction_bytes(resolution, loaded)
    available = available_memory_bytes() if available is None else available
    if available is not None and need > USABLE_SHARE * available:
        spare = USABLE_SHARE * available - (0.0 if loaded else PROCESS_BYTES)
        fits = int((max(spare, 0.0) / BYTES_PER_VOXEL) ** (1.0 / 3.0))
        raise ResourceError(
            f"a mesh at resolution {resolution} needs about {need / 1e9:.1f} GB of memory and "
            f"{available / 1e9:.1f} GB is available: use a resolution of at most {fits} on this machine "
            "(the memory grows with the cube of the resolution)")
    return need
