"""``FaceCodes``: the three latent codes of one face (numpy only, so the engine, fitting and files can pass
codes around without loading the model)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["FaceCodes"]


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
