"""``FaceField``: one face (a model and its codes) as numpy-in, numpy-out field functions.

The landmarks and code tensors are prepared once per face, so the extraction
code can call the field on many small chunks cheaply. Everything runs under
``torch.no_grad`` (not ``inference_mode``: the fine SDF takes an inner gradient,
see ``ImFaceNet.fine``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from imface_core.errors import CodesError
from imface_core.face_codes import FaceCodes, codes_key

if TYPE_CHECKING:
    from imface_core.face_model import FaceModel

__all__ = ["FaceField", "codes_key"]


class FaceField:
    """Field functions of one face.

    Args:
        model: the loaded ``FaceModel``.
        codes: the face's latent codes (checked: ``FaceModel.check_codes`` raises ``CodesError``).
        detail: ``sdf`` is the fine SDF (with the refinement field) when True, the coarse one otherwise.
        detail_scale: detail strength (multiplies the refinement displacement; 0 = coarse shape).
    """

    def __init__(self, model: FaceModel, codes: FaceCodes, detail: bool = True, detail_scale: float = 1.0):
        codes = model.check_codes(codes)  # CodesError before any network runs
        if not math.isfinite(float(detail_scale)):
            raise CodesError(f"the detail strength must be a finite number, got {detail_scale!r}")
        self.model = model
        self.codes = codes
        self.detail = bool(detail) and float(detail_scale) != 0.0
        self.detail_scale = float(detail_scale)
        self.net = model.net
        self.device = model.device
        self.key = codes_key(codes)
        z = [torch.as_tensor(np.asarray(c, dtype=np.float32), device=self.device)[None] for c in
             (codes.z_id, codes.z_exp, codes.z_det)]
        self._z_id, self._z_exp, self._z_det = z
        with torch.no_grad():
            self._landmarks = self.net.predict_landmarks(self._z_id, self._z_exp)

    @property
    def landmarks(self) -> np.ndarray:
        """(K, 3) landmarks the model predicts for this face in observation space (L_exp: outer eye corners,
        nose tip, mouth corners), normalised units."""
        return self._landmarks[0][0].detach().cpu().numpy().astype(np.float32)

    @property
    def kind(self) -> str:
        """``"fine"`` or ``"coarse"``: what ``sdf`` computes."""
        return "fine" if self.detail else "coarse"

    def _points(self, points: np.ndarray) -> torch.Tensor:
        pts = np.ascontiguousarray(points, dtype=np.float32)
        if pts.ndim != 2 or pts.shape[1] != 3:
            raise ValueError(f"points must have shape (M, 3), got {pts.shape}")
        return torch.from_numpy(pts).to(self.device)[None]

    # -- SDFs --------------------------------------------------------------------------------------
    def sdf(self, points: np.ndarray) -> np.ndarray:
        """(M, 3) -> (M,) float32: the fine SDF when ``detail`` else the coarse one."""
        return self.fine_sdf(points) if self.detail else self.coarse_sdf(points)

    __call__ = sdf

    def coarse_sdf(self, points: np.ndarray) -> np.ndarray:
        """(M, 3) -> (M,) coarse (stage-1) SDF."""
        return self.coarse(points)[0]

    def fine_sdf(self, points: np.ndarray) -> np.ndarray:
        """(M, 3) -> (M,) fine SDF s(x + d n) at this field's detail strength."""
        if len(points) == 0:
            return np.empty(0, dtype=np.float32)
        x = self._points(points)
        with torch.no_grad():
            out = self.net.fine(x, self._z_id, self._z_exp, self._z_det, self._landmarks,
                                detail_scale=self.detail_scale)
        return out["sdf"][0].cpu().numpy()

    def coarse(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M, 3) -> (coarse SDF (M,), template coordinates x_t (M, 3)), one coarse pass."""
        if len(points) == 0:
            return np.empty(0, dtype=np.float32), np.empty((0, 3), dtype=np.float32)
        x = self._points(points)
        with torch.no_grad():
            out = self.net.coarse(x, self._z_id, self._z_exp, self._landmarks)
        return out["sdf"][0].cpu().numpy(), out["x_t"][0].cpu().numpy()

    def coarse_gradient(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M, 3) -> (coarse SDF (M,), its gradient (M, 3)): one coarse pass and its backward pass."""
        if len(points) == 0:
            return np.empty(0, dtype=np.float32), np.empty((0, 3), dtype=np.float32)
        with torch.enable_grad():
            x = self._points(points).clone().requires_grad_(True)
            sdf = self.net.coarse(x, self._z_id, self._z_exp, self._landmarks)["sdf"]
            (grad,) = torch.autograd.grad(sdf.sum(), x)
        return sdf.detach()[0].cpu().numpy(), grad[0].cpu().numpy()

    # -- pieces ------------------------------------------------------------------------------------
    def template_coords(self, points: np.ndarray) -> np.ndarray:
        """(M, 3) -> (M, 3) template coordinates x_t (the dense correspondence)."""
        return self.warp(points)

    def warp(self, points: np.ndarray) -> np.ndarray:
        """(M, 3) -> x_t (M, 3): expression then identity warp, without the template SDF (cheaper)."""
        if len(points) == 0:
            return np.empty((0, 3), dtype=np.float32)
        x = self._points(points)
        l_exp, l_id = self._landmarks
        with torch.no_grad():
            x_c = self.net.to_canonical(x, self._z_exp, l_exp)
            x_t, _ = self.net.to_template(x_c, self._z_id, l_id)
        return x_t[0].cpu().numpy()

    def detail_amplitude(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Refinement amplitude at points before the fade: (a (M,), x_t (M, 3)).

        a = detail_scale * detail_max * tanh(RDF(x_t; z_det)); the displacement is d = a / (1 + (s / detail_fade)^4).
        One coarse pass (for x_t) and one RDF pass, no gradient.
        """
        if len(points) == 0:
            return np.empty(0, dtype=np.float32), np.empty((0, 3), dtype=np.float32)
        x = self._points(points)
        cfg = self.net.cfg
        with torch.no_grad():
            x_t = self.net.coarse(x, self._z_id, self._z_exp, self._landmarks)["x_t"]
            a = (self.detail_scale * cfg.detail_max) * torch.tanh(self.net.detail_offset(x_t, self._z_det))
        return a[0].cpu().numpy(), x_t[0].cpu().numpy()

    @property
    def max_displacement(self) -> float:
        """Upper bound of |d| in normalised units (detail_max * |detail_scale|, 0 without detail)."""
        return float(self.net.cfg.detail_max * abs(self.detail_scale)) if self.detail else 0.0
