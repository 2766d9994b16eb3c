"""Process-wide compute settings for callers that do not import torch themselves (the editor, the CLI)."""

from __future__ import annotations

import torch

__all__ = ["set_compute_threads"]


def set_compute_threads(threads: int) -> int:
    """Use ``threads`` CPU threads for the model's computations (at least 1); returns the number set."""
    n = max(1, int(threads))
    torch.set_num_threads(n)
    return n
