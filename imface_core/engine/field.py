"""``FaceField``: one face (a model and its codes) as numpy-in, numpy-out field functions.

The landmarks and code tensors are prepared once per face, so the extraction
code can call the field on many small chunks cheaply. Everything runs under
``torch.no_grad`` (not ``inference_mode``: the fine SDF takes an inner gradient,
see ``ImFaceNet.fine``).

Codes with region edits (``FaceCodes.regions``) give a blended face: each edited region's own field is
evaluated too and blended in by its template-space mask (``local_edit``) at the face's own template
coordinates; SDF, template coordinates and detail amplitude are blended alike.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

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
        self.shift = torch.zeros(3, device=self.device)
        """Added to points before this field sees them (a region's field: its region moved onto the face's)."""
        self._parts = [self._part(edit, detail) for edit in codes.regions]

    def _part(self, edit, detail: bool) -> tuple[tuple[torch.Tensor, float, float], "FaceField"]:
        """(mask arguments, field) of one region edit. The region's field is shifted so that its region's
        landmarks lie, on average, where the face's own do: the other person's nose goes where this face's nose
        is, not where it sat on the other face (which would leave a step in the band)."""
        from imface_core.local_edit import REGIONS, region_anchors

        region = REGIONS[edit.region]
        anchors = region_anchors(edit.region, self.net.template_landmarks68.detach().cpu().numpy())
        anchors = torch.as_tensor(anchors, dtype=torch.float32, device=self.device)
        own = self.codes.without_regions()
        part = FaceField(self.model, edit.codes(own), detail, self.detail_scale)
        if edit.align:  # where the other face's region lies with this face's expression (the region's own kept)
            other = part if edit.exp_offset is None else FaceField(self.model, own.replace(z_id=part.codes.z_id), False)
            with torch.no_grad():
                ours, theirs = self._locate(anchors), other._locate(anchors)
            if ours is not None and theirs is not None:
                part.shift = (theirs - ours).mean(dim=0)
        return (anchors, region.inner, region.outer), part

    def _locate(self, template_points: torch.Tensor, iterations: int = 30, tol: float = 1e-4) -> torch.Tensor | None:
        """(n, 3) points of this face whose template coordinates are ``template_points`` (the warps inverted by
        the fixed-point iteration of ``TemplateDeformer``), or None where it does not converge."""
        t = template_points[None]
        x = t.clone()
        for _ in range(iterations):
            r = self._warp_t(x) - t
            if float(r.norm(dim=-1).max()) < tol:
                return x[0]
            x = x - r
        return None

    def _at(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.shift

    def _blend(self, x: torch.Tensor, x_t: torch.Tensor, own: list[torch.Tensor],
               evaluate: Callable[["FaceField", torch.Tensor], list[torch.Tensor]]) -> list[torch.Tensor]:
        """This face's values ``own`` (each (1, M) or (1, M, 3)) at points ``x`` (1, M, 3) with each region's
        blended in by its mask at the face's template coordinates ``x_t``; ``evaluate(field, points)`` gives a
        region's values, asked only for the points its mask reaches."""
        from imface_core.local_edit import region_weight

        out = list(own)
        for mask, part in self._parts:
            w = region_weight(x_t[0], *mask)
            idx = torch.nonzero(w > 0).squeeze(1)
            if len(idx) == 0:
                continue
            w = w[idx]
            for k, v in enumerate(evaluate(part, part._at(x[:, idx]))):
                blended = out[k].clone()
                here = blended[:, idx]
                blended[:, idx] = here + (w if v.dim() == 2 else w[:, None]) * (v - here)
                out[k] = blended
        return out

    def _coarse_t(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(coarse SDF (1, M), x_t (1, M, 3)) of points (1, M, 3), region edits blended in (torch)."""
        out = self.net.coarse(x, self._z_id, self._z_exp, self._landmarks)
        if not self._parts:
            return out["sdf"], out["x_t"]

        def coarse(part: FaceField, points: torch.Tensor) -> list[torch.Tensor]:
            o = part.net.coarse(points, part._z_id, part._z_exp, part._landmarks)
            return [o["sdf"], o["x_t"]]

        sdf, x_t = self._blend(x, out["x_t"], [out["sdf"], out["x_t"]], coarse)
        return sdf, x_t

    def _warp_t(self, x: torch.Tensor) -> torch.Tensor:
        l_exp, l_id = self._landmarks
        x_c = self.net.to_canonical(x, self._z_exp, l_exp)
        return self.net.to_template(x_c, self._z_id, l_id)[0]

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
                                detail_scale=self.detail_scale)["sdf"]
            if self._parts:
                (out,) = self._blend(x, self._warp_t(x), [out], lambda p, pts: [p.net.fine(
                    pts, p._z_id, p._z_exp, p._z_det, p._landmarks, detail_scale=p.detail_scale)["sdf"]])
        return out[0].cpu().numpy()

    def coarse(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M, 3) -> (coarse SDF (M,), template coordinates x_t (M, 3)), one coarse pass."""
        if len(points) == 0:
            return np.empty(0, dtype=np.float32), np.empty((0, 3), dtype=np.float32)
        x = self._points(points)
        with torch.no_grad():
            sdf, x_t = self._coarse_t(x)
        return sdf[0].cpu().numpy(), x_t[0].cpu().numpy()

    def coarse_gradient(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M, 3) -> (coarse SDF (M,), its gradient (M, 3)): one coarse pass and its backward pass."""
        if len(points) == 0:
            return np.empty(0, dtype=np.float32), np.empty((0, 3), dtype=np.float32)
        with torch.enable_grad():
            x = self._points(points).clone().requires_grad_(True)
            sdf = self._coarse_t(x)[0]
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
        with torch.no_grad():
            x_t = self._warp_t(x)
            if self._parts:
                (x_t,) = self._blend(x, x_t, [x_t], lambda p, pts: [p._warp_t(pts)])
        return x_t[0].cpu().numpy()

    def detail_amplitude(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Refinement amplitude at points before the fade: (a (M,), x_t (M, 3)).

        a = detail_scale * detail_max * tanh(RDF(x_t; z_det)); the displacement is d = a / (1 + (s / detail_fade)^4).
        The two warps (for x_t; the same operations as the coarse pass, without its template SDF) and one RDF
        pass, no gradient.
        """
        if len(points) == 0:
            return np.empty(0, dtype=np.float32), np.empty((0, 3), dtype=np.float32)
        x = self._points(points)
        cfg = self.net.cfg
        with torch.no_grad():
            x_t = self._warp_t(x)
            a = (self.detail_scale * cfg.detail_max) * torch.tanh(self.net.detail_offset(x_t, self._z_det))
            if self._parts:
                def amplitude(p: FaceField, pts: torch.Tensor) -> list[torch.Tensor]:
                    t = p._warp_t(pts)
                    return [(p.detail_scale * cfg.detail_max) * torch.tanh(p.net.detail_offset(t, p._z_det)), t]

                a, x_t = self._blend(x, x_t, [a, x_t], amplitude)
        return a[0].cpu().numpy(), x_t[0].cpu().numpy()

    @property
    def max_displacement(self) -> float:
        """Upper bound of |d| in normalised units (detail_max * |detail_scale|, 0 without detail)."""
        return float(self.net.cfg.detail_max * abs(self.detail_scale)) if self.detail else 0.0
