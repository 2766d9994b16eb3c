"""``FaceCodes``: the three latent codes of one face (numpy only, so the engine, fitting and files can pass
codes around without loading the model)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

__all__ = ["FaceCodes", "codes_key"]


@dataclass(frozen=True)
class FaceCodes:
    """The three latent codes of one face (1-D float32 arrays)."""

    z_id: np.ndarray
    z_exp: np.ndarray
    z_det: np.ndarray

    def replace(self, **changes) -> "FaceCodes":
        return replace(self, **{k: np.asarray(v, dtype=np.float32) for k, v in changes.items()})

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"z_id": self.z_id, "z_exp": self.z_exp, "z_det": self.z_det}


def codes_key(codes: FaceCodes) -> str:
    """A short digest of the three codes (equal codes <=> equal key, to the bit)."""
    h = hashlib.blake2b(digest_size=12)
    for z in (codes.z_id, codes.z_exp, codes.z_det):
        h.update(np.ascontiguousarray(z, dtype=np.float32).tobytes())
    return h.hexdigest()
