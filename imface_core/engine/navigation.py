"""Latent navigation: principal directions of the codes, named-expression presets, random faces.

method.md section 9: sliders move a code along the principal axes of the training codes in units of their
standard deviation (mean + sum_i c_i sigma_i PC_i), named expressions are the mean z_exp of the training scans
with that label, and a random face draws every c_i from N(0, 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from imface_core.face_codes import FaceCodes

NEUTRAL = "neutral"
"""The label the presets' gains scale from."""

if TYPE_CHECKING:
    from imface_core.face_model import FaceModel

__all__ = ["CodeSpace", "LatentNavigator", "code_space"]


@dataclass(frozen=True)
class CodeSpace:
    """PCA of one code table: ``code(c) = mean + sum_i c_i * sigma_i * components[i]``.

    components are orthonormal rows (K, D), sigma (K,) the standard deviation of the codes along each
    (largest first); K <= min(number of codes - 1, D), directions with no variance are dropped.
    """

    mean: np.ndarray
    components: np.ndarray
    sigma: np.ndarray

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    @property
    def num_components(self) -> int:
        return int(self.components.shape[0])

    def code(self, coefficients) -> np.ndarray:
        """(k <= K,) coefficients in units of sigma -> (D,) float32 code (missing coefficients are 0)."""
        c = np.zeros(self.num_components)
        given = np.asarray(coefficients, dtype=np.float64).reshape(-1)
        if len(given) > self.num_components:
            raise ValueError(f"{len(given)} coefficients for {self.num_components} principal directions")
        c[: len(given)] = given
        return (self.mean + (c * self.sigma) @ self.components).astype(np.float32)

    def coefficients(self, code) -> np.ndarray:
        """(D,) code -> (K,) coefficients in units of sigma (its projection; the rest is dropped)."""
        z = np.asarray(code, dtype=np.float64) - self.mean
        return (self.components @ z) / self.sigma

    def move(self, code, axis: int, amount: float) -> np.ndarray:
        """``code`` moved by ``amount`` sigma along principal direction ``axis`` (a slider step)."""
        if not 0 <= axis < self.num_components:
            raise IndexError(f"principal direction {axis} out of range ({self.num_components})")
        return (np.asarray(code, dtype=np.float64) + amount * self.sigma[axis] * self.components[axis]).astype(
            np.float32)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """A random code: mean + sum_i N(0, 1) sigma_i PC_i."""
        return self.code(rng.standard_normal(self.num_components))


def code_space(codes: np.ndarray, max_components: int | None = None, rel_tol: float = 1e-6) -> CodeSpace:
    """PCA of codes (M, D) (rows are codes)."""
    z = np.asarray(codes, dtype=np.float64)
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"codes must be a non-empty (M, D) array, got shape {z.shape}")
    mean = z.mean(axis=0)
    if len(z) < 2:
        return CodeSpace(mean, np.zeros((0, z.shape[1])), np.zeros(0))
    _, s, vt = np.linalg.svd(z - mean, full_matrices=False)
    sigma = s / np.sqrt(len(z) - 1)
    keep = sigma > rel_tol * max(sigma.max(), 1e-30)
    if max_components is not None:
        keep &= np.arange(len(sigma)) < max_components
    return CodeSpace(mean, vt[keep], sigma[keep])


class LatentNavigator:
    """Sliders and presets of one model: PCA of z_id (one per identity), z_exp and z_det (one per scan)."""

    def __init__(self, model: FaceModel):
        self.model = model
        self.identity = code_space(model.tables["id"])
        self.expression = code_space(model.tables["exp"])
        self.detail = code_space(model.tables["det"])

    def expression_presets(self) -> dict[str, np.ndarray]:
        """Named expression -> mean z_exp of the training scans with that label (training order), its offset
        from the neutral mean scaled by the model's gain for the label where it has one
        (``FaceModel.expression_gains``, set by ``imface calibrate``: averaging codes that scatter shrinks them)."""
        out: dict[str, np.ndarray] = {}
        labels = np.array([s["expression"] for s in self.model.scans])
        for name in self.model.expressions:
            out[name] = self.model.tables["exp"][labels == name].mean(axis=0).astype(np.float32)
        gains = self.model.expression_gains
        if gains and NEUTRAL in out:
            for name, gain in gains.items():
                out[name] = (out[NEUTRAL] + gain * (out[name] - out[NEUTRAL])).astype(np.float32)
        return out

    def with_expression(self, codes: FaceCodes, name: str) -> FaceCodes:
        """``codes`` with the preset z_exp of expression ``name`` (``CodesError`` for unusable codes)."""
        codes = self.model.check_codes(codes)
        presets = self.expression_presets()
        if name not in presets:
            raise KeyError(f"unknown expression `{name}`; the model knows {', '.join(presets)}")
        return codes.replace(z_exp=presets[name])

    def random_face(self, seed: int, expression: str | None = None, scale: float = 1.0) -> FaceCodes:
        """A random face: z_id, z_exp and z_det each mean + sum_i N(0, 1) * scale * sigma_i * PC_i.

        Args:
            seed: the same seed gives the same face.
            expression: use this named preset instead of a random z_exp (e.g. "neutral").
            scale: shrink (< 1) or widen the draw.
        """
        rng = np.random.default_rng(seed)
        z = {}
        for name, space in (("z_id", self.identity), ("z_exp", self.expression), ("z_det", self.detail)):
            z[name] = space.code(scale * rng.standard_normal(space.num_components))
        codes = FaceCodes(z["z_id"], z["z_exp"], z["z_det"])
        return self.with_expression(codes, expression) if expression else codes
