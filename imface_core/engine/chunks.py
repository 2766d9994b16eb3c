"""Chunked evaluation of a field with cancellation between any two chunks.

A *field* is any callable mapping points ``(M, 3) float32`` to values ``(M,) float32``
(or ``(M, C)``). A *cancel token* is anything with ``is_set() -> bool`` (a
``threading.Event``); when it is set, evaluation stops before the next chunk and
raises :class:`imface_core.errors.Cancelled`.
"""

from __future__ import annotations

from typing import Callable, Protocol

import numpy as np

from imface_core.errors import Cancelled

__all__ = ["Cancelled", "CancelToken", "Field", "DEFAULT_CHUNK", "check_cancel", "evaluate_in_chunks"]

Field = Callable[[np.ndarray], np.ndarray]
"""points (M, 3) float32 -> values (M,) float32."""

DEFAULT_CHUNK = 16384
"""Points per field call: the granularity of cancellation (~0.1-0.3 s of CPU for the fine SDF)."""


class CancelToken(Protocol):
    """What every cancellable call of the package takes as ``cancel``: a ``threading.Event`` or anything with
    ``is_set()``."""

    def is_set(self) -> bool: ...


def check_cancel(cancel: CancelToken | None, what: str = "extraction") -> None:
    """Raise ``errors.Cancelled`` (saying ``what`` was cancelled) when ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{what} cancelled")


def evaluate_in_chunks(
    field: Field,
    points: np.ndarray,
    chunk: int = DEFAULT_CHUNK,
    cancel: CancelToken | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> np.ndarray:
    """``field(points)`` in chunks of ``chunk`` points; checks ``cancel`` before every chunk.

    Args:
        points: (M, 3) float32.
        on_chunk: called with the number of points after each chunk (progress counting).
    Returns:
        (M,) or (M, C) float32, the concatenated field values.
    """
    pts = np.ascontiguousarray(points, dtype=np.float32)
    parts = []
    for s in range(0, len(pts), chunk):
        check_cancel(cancel)
        parts.append(np.asarray(field(pts[s : s + chunk]), dtype=np.float32))
        if on_chunk is not None:
            on_chunk(len(parts[-1]))
    if not parts:
        return np.empty((0,), dtype=np.float32)
    return np.concatenate(parts, axis=0)
