"""How far a face's latent codes may lie from a model's training codes (numpy only, no torch).

Every public entry that takes codes from a caller (``FaceModel.sdf`` / ``template_coords`` / ``mesh``, the
engine's ``FaceField`` and ``ProgressiveMesher``, detail transfer) checks them with ``CodeBounds.check``
before any network runs, so a wrong size, a NaN or a value pasted in from elsewhere is a ``CodesError``
naming the code, not a matmul shape error or an empty face.

The bounds are per dimension, precomputed once per model: ``mean_d +- MAX_SIGMAS * scale_d`` with
``scale_d = max(std_d, floor)``, the standard deviation of that dimension over the training code table,
floored so dimensions without variance (or a table of one code) do not reject everything. Measured with
the shipped model (``resources/imface_compact.pt``): its own training codes reach 8.9 sigma, random faces
4.5, the editor's worst reachable state (every expression-preset slider at 1 and ten expression sliders at
+-3 sigma with the worst signs) 29 sigma and 54 with the presets at twice their strength; a code far beyond
that is corrupt or from another model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imface_core.errors import CodesError

__all__ = ["CODE_NAMES", "CodeBounds", "FLOOR_SHARE", "MAX_SIGMAS", "code_bounds"]

CODE_NAMES = ("z_id", "z_exp", "z_det")
TABLE_OF_CODE = {"z_id": "id", "z_exp": "exp", "z_det": "det"}
MAX_SIGMAS = 100.0
"""A component more than this many (floored) standard deviations from the training mean is refused."""
FLOOR_SHARE = 0.1
"""The per-dimension scale is at least this share of the table's RMS standard deviation, and of the
network's code unit (``1 / code_scale``)."""


@dataclass(frozen=True)
class CodeBounds:
    """Bounds of one code (``name`` is z_id, z_exp or z_det)."""

    name: str
    mean: np.ndarray
    scale: np.ndarray
    """Per-dimension standard deviation of the training codes, floored."""
    low: np.ndarray
    high: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def from_table(cls, name: str, table: np.ndarray, code_unit: float = 0.0) -> "CodeBounds":
        """Bounds from a training code table (M, D)."""
        t = np.asarray(table, dtype=np.float64)
        mean = t.mean(axis=0)
        std = t.std(axis=0)
        floor = max(FLOOR_SHARE * float(np.sqrt(np.mean(std**2))), FLOOR_SHARE * float(code_unit), 1e-12)
        scale = np.maximum(std, floor)
        return cls(name, mean, scale, mean - MAX_SIGMAS * scale, mean + MAX_SIGMAS * scale)

    def check(self, value) -> np.ndarray:
        """``value`` as a (D,) float32 array; ``CodesError`` when it is missing, not numbers, of the wrong
        size, not finite or beyond the bounds."""
        name = self.name
        if value is None:
            raise CodesError(f"{name} is missing (None); give all three codes z_id, z_exp, z_det")
        try:
            arr = np.asarray(value)
        except (TypeError, ValueError) as exc:  # ragged nested lists
            raise CodesError(f"{name} is not an array of numbers ({exc})") from None
        if arr.dtype.kind not in "iuf":
            raise CodesError(f"{name} is not an array of numbers (got {type(value).__name__} of {arr.dtype})")
        if arr.shape != (self.dim,):
            shape = "a single number" if arr.ndim == 0 else f"{arr.size} values (shape {arr.shape})"
            raise CodesError(f"{name} has {shape}; this model's {name} has {self.dim} values. Use codes made "
                             "with this model (a fit, a session or a codes file of a model with other code "
                             "sizes does not fit it)")
        z = arr.astype(np.float64, copy=False)
        finite = np.isfinite(z)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise CodesError(f"{name} holds {len(bad)} NaN or infinite value(s) (first at index {bad[0]}: "
                             f"{z[bad[0]]}); codes must be finite numbers")
        if ((z < self.low) | (z > self.high)).any():
            sigmas = np.abs(z - self.mean) / self.scale
            i = int(np.argmax(sigmas))
            raise CodesError(
                f"{name}[{i}] = {z[i]:.4g} is {sigmas[i]:.3g} standard deviations from this model's training "
                f"codes (at most {MAX_SIGMAS:g} are accepted; its own codes stay within about 10): these codes "
                "are corrupt or belong to another model. Pick a face from this model or fit the scan again")
        return arr.astype(np.float32)


def code_bounds(tables: dict[str, np.ndarray], code_unit: float = 0.0) -> tuple[CodeBounds, ...]:
    """The bounds of z_id, z_exp and z_det from a model's code tables (keys id, exp, det)."""
    return tuple(CodeBounds.from_table(name, tables[TABLE_OF_CODE[name]], code_unit) for name in CODE_NAMES)
