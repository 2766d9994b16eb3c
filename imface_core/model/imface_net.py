"""The ImFace++ network: expression, identity, template and detail fields plus landmark nets.

See method.md sections 1-3. All methods take batched tensors: B scans with N
points each, codes of shape (B, D). The coarse SDF is

    x_c = x + E(x; z_exp, L_exp)                 (expression field)
    [Delta, delta] = I(x_c; z_id, L_id)          (identity field)
    x_t = x_c + Delta
    s(x) = T(x_t; L_tmp) + delta                 (template field)

and the fine SDF (stage 2) re-evaluates it at a point moved along the detached
normal by the refinement displacement field RDF(x_t; z_det, L_tmp).
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from imface_core.model.blend_field import NeuralBlendField
from imface_core.model.config import ModelConfig
from imface_core.model.detail_plane import DetailPlane

__all__ = ["ImFaceNet"]

Landmarks = tuple[Tensor, Tensor]
"""(L_exp, L_id), each (B, K, 3), as returned by ``ImFaceNet.predict_landmarks``."""

# Points per scan handled at once by ``fine`` when no graph is kept: bounds the
# memory of the inner gradient pass (its graph lives only for one chunk).
_FINE_CHUNK_POINTS = 16384


def _landmark_net(in_dim: int, width: int, template: Tensor) -> nn.Sequential:
    """MLP in_dim -> width -> width -> K*3 whose output starts exactly at ``template`` (K, 3)."""
    net = nn.Sequential(
        nn.Linear(in_dim, width),
        nn.LeakyReLU(0.2),
        nn.Linear(width, width),
        nn.LeakyReLU(0.2),
        nn.Linear(width, template.numel()),
    )
    with torch.no_grad():
        net[-1].weight.zero_()
        net[-1].bias.copy_(template.reshape(-1))
    return net


class ImFaceNet(nn.Module):
    """ImFace++ (translation deformations, FiLM-SIREN blend fields).

    Args:
        cfg: architecture hyper-parameters.
        template_landmarks5: (K, 3) template landmarks L_tmp (iBUG-68 indices 36, 45, 30, 48, 54 of the
            template face, normalised units); the anchors of T and RDF, and the initial output of the
            landmark nets.
        template_landmarks68: (68, 3) all template landmarks, kept as a buffer for the landmark losses.

    Submodules: ``expression_field`` (E), ``identity_field`` (I), ``template_field`` (T),
    ``detail_field`` (RDF) with ``detail_plane`` (None unless ``cfg.det_plane_channels``),
    ``landmark_net_exp`` (P_exp), ``landmark_net_id`` (P_id).
    """

    template_landmarks5: Tensor
    template_landmarks68: Tensor

    def __init__(self, cfg: ModelConfig, template_landmarks5: Tensor, template_landmarks68: Tensor) -> None:
        super().__init__()
        k = cfg.num_regions
        if tuple(template_landmarks5.shape) != (k, 3):
            raise ValueError(f"template_landmarks5 must be ({k}, 3), got {tuple(template_landmarks5.shape)}")
        if tuple(template_landmarks68.shape) != (68, 3):
            raise ValueError(f"template_landmarks68 must be (68, 3), got {tuple(template_landmarks68.shape)}")
        self.cfg = cfg
        lm5 = torch.as_tensor(template_landmarks5, dtype=torch.float32).detach().clone()
        lm68 = torch.as_tensor(template_landmarks68, dtype=torch.float32).detach().clone()
        self.register_buffer("template_landmarks5", lm5)
        self.register_buffer("template_landmarks68", lm68)

        field = self._blend_field
        self.expression_field = field(3, cfg.exp_dim, cfg.exp_width, cfg.exp_depth, True)
        self.identity_field = field(4, cfg.id_dim, cfg.id_width, cfg.id_depth, True)
        self.template_field = field(1, 0, cfg.tmpl_width, cfg.tmpl_depth, False)
        self.detail_field, self.detail_plane = self._detail_field()
        self.landmark_net_exp = _landmark_net(cfg.exp_dim + cfg.id_dim, cfg.landmark_net_width, lm5)
        self.landmark_net_id = _landmark_net(cfg.id_dim, cfg.landmark_net_width, lm5)

    def _blend_field(self, out_dim: int, code_dim: int, width: int, depth: int, zero: bool,
                     first_omega0: float | None = None) -> NeuralBlendField:
        cfg = self.cfg
        return NeuralBlendField(
            out_dim,
            code_dim,
            num_regions=cfg.num_regions,
            width=width,
            depth=depth,
            omega0=cfg.omega0,
            fusion_width=cfg.fusion_width,
            zero_init_output=zero,
            mapping_width=cfg.mapping_width,
            first_omega0=first_omega0,
        )

    def _detail_field(self) -> tuple[NeuralBlendField, DetailPlane | None]:
        """A fresh RDF of ``cfg``: the blend field (1 + C outputs, zero at first) and the detail plane (C > 0)."""
        c = self.cfg
        channels = c.det_plane_channels
        by_code = channels > 0 and c.det_plane_mixing == "code"
        outputs = 1 if by_code else 1 + channels
        field = self._blend_field(outputs, c.det_dim, c.det_width, c.det_depth, True, c.det_first_omega0)
        if not channels:
            return field, None
        if by_code:  # the plane starts at zero and its mix random, so the features get a gradient at once
            return field, DetailPlane(channels, c.det_plane_half_width, c.det_plane_half_height, c.det_plane_texel,
                                      code_dim=c.det_dim)
        # the plane starts at zero (so does r); its coefficients a_1..a_C start random, so that the features get a
        # gradient at once: per region a random constant plus a small SIREN-sized code and position dependence
        minis = field.minis
        with torch.no_grad():
            minis.out_bias[:, 1:].normal_(0.0, 0.5)
            bound = math.sqrt(6.0 / minis.width) / minis.omega0
            minis.out_weight[:, :, 1:].uniform_(-bound, bound)
        return field, DetailPlane(channels, c.det_plane_half_width, c.det_plane_half_height, c.det_plane_texel)

    def reset_detail_field(self, width: int | None = None, code_dim: int | None = None,
                           first_omega0: float | None = None, plane_channels: int | None = None,
                           plane_mixing: str | None = None) -> None:
        """Replace the RDF by a fresh one (zero output: fine SDF = coarse SDF), optionally of another width,
        detail-code size, first-layer frequency, detail-plane channel count or plane mixing; ``cfg`` follows, so
        a checkpoint rebuilds the new field."""
        cfg = self.cfg
        self.cfg = replace(
            cfg,
            det_width=cfg.det_width if width is None else width,
            det_dim=cfg.det_dim if code_dim is None else code_dim,
            det_first_omega0=cfg.det_first_omega0 if first_omega0 is None else first_omega0,
            det_plane_channels=cfg.det_plane_channels if plane_channels is None else plane_channels,
            det_plane_mixing=cfg.det_plane_mixing if plane_mixing is None else plane_mixing,
        )
        device = self.template_landmarks5.device
        field, plane = self._detail_field()
        self.detail_field = field.to(device)
        self.detail_plane = None if plane is None else plane.to(device)

    def set_detail_basis(self, features: Tensor, mix: Tensor | None = None) -> None:
        """Start the detail plane from ``features`` (rows, columns, C) (``imface_core.training.plane_init``).

        Blend-field mixing: the coefficients a_1..a_C start at zero, so r = a_0 stays what it was (zero for a
        fresh field) and the coefficients get a gradient from the features. Code mixing: the plane's mix becomes
        ``mix`` (C, det_dim), which with the detail codes the caller sets gives each scan its weights."""
        plane = self.detail_plane
        if plane is None or tuple(features.shape) != tuple(plane.features.shape):
            have = None if plane is None else tuple(plane.features.shape)
            raise ValueError(f"detail basis of shape {tuple(features.shape)} does not fit the detail plane {have}")
        if (mix is None) != (plane.mix is None) or (mix is not None and mix.shape != plane.mix.weight.shape):
            want = None if plane.mix is None else tuple(plane.mix.weight.shape)
            raise ValueError(f"detail basis mix {None if mix is None else tuple(mix.shape)} does not fit the plane's "
                             f"mix {want}")
        with torch.no_grad():
            plane.features.copy_(features)
            if mix is not None:
                plane.mix.weight.copy_(mix)
                return
            minis = self.detail_field.minis
            minis.out_bias[:, 1:].zero_()
            minis.out_weight[:, :, 1:].zero_()

    # ------------------------------------------------------------------ parameters

    def coarse_parameters(self) -> list[nn.Parameter]:
        """Parameters of stage 1: E, I, T and the landmark nets (everything but the RDF)."""
        skip = {id(p) for p in self.detail_parameters()}
        return [p for p in self.parameters() if id(p) not in skip]

    def detail_parameters(self) -> list[nn.Parameter]:
        """Parameters of the refinement displacement field (stage 2): its blend field, then its detail plane."""
        return list(self.detail_field.parameters()) + self.detail_plane_parameters()

    def detail_plane_parameters(self) -> list[nn.Parameter]:
        """The detail plane's features and mix (none without a plane); trained at a higher rate than the networks."""
        return [] if self.detail_plane is None else list(self.detail_plane.parameters())

    # ------------------------------------------------------------------ pieces

    def _template_anchors(self, batch: int) -> Tensor:
        """L_tmp broadcast to (batch, K, 3)."""
        return self.template_landmarks5.unsqueeze(0).expand(batch, -1, -1)

    def predict_landmarks(self, z_id: Tensor, z_exp: Tensor) -> Landmarks:
        """z_id: (B, id_dim), z_exp: (B, exp_dim) -> (L_exp, L_id), each (B, K, 3).

        L_exp = P_exp(cat(z_exp, z_id)) lives in observation space, L_id = P_id(z_id) in the neutral space.
        """
        b, k, c = z_id.shape[0], self.cfg.num_regions, self.cfg.code_scale
        l_exp = self.landmark_net_exp(torch.cat([z_exp, z_id], dim=-1) * c).view(b, k, 3)
        l_id = self.landmark_net_id(z_id * c).view(b, k, 3)
        return l_exp, l_id

    def to_canonical(self, x: Tensor, z_exp: Tensor, l_exp: Tensor) -> Tensor:
        """x: (B, N, 3) observation points -> x_c = x + E(x; z_exp, L_exp): (B, N, 3) neutral-face points."""
        return x + self.expression_field(x, l_exp, z_exp * self.cfg.code_scale)

    def to_template(self, x_c: Tensor, z_id: Tensor, l_id: Tensor) -> tuple[Tensor, Tensor]:
        """x_c: (B, N, 3) -> (x_t (B, N, 3) = x_c + Delta, delta (B, N) SDF correction)."""
        out = self.identity_field(x_c, l_id, z_id * self.cfg.code_scale)
        return x_c + out[..., :3], out[..., 3]

    def template_sdf(self, x_t: Tensor) -> Tensor:
        """x_t: (B, N, 3) template-space points -> (B, N) template SDF T(x_t; L_tmp)."""
        return self.template_field(x_t, self._template_anchors(x_t.shape[0])).squeeze(-1)

    def detail_offset(self, x_t: Tensor, z_det: Tensor) -> Tensor:
        """x_t: (B, N, 3), z_det: (B, det_dim) -> raw RDF output r (B, N) (before tanh and fade).

        With a detail plane, r = a_0 + sum_c a_c * P_c(x_t): the blend field's 1 + C outputs a weigh the
        plane's C features P at the point, or (code mixing) a_0 comes from the blend field and a_1..a_C from the
        plane's linear map of z_det, the same at every point."""
        code = z_det * self.cfg.code_scale
        out = self.detail_field(x_t, self._template_anchors(x_t.shape[0]), code)
        plane = self.detail_plane
        if plane is None:
            return out.squeeze(-1)
        if plane.mix is not None:  # per-scan weights, the same over the face
            return out[..., 0] + (plane(x_t) * plane.coefficients(code).unsqueeze(-2)).sum(-1)
        return out[..., 0] + (out[..., 1:] * plane(x_t)).sum(-1)

    # ------------------------------------------------------------------ full passes

    def forward(
        self, x: Tensor, z_id: Tensor, z_exp: Tensor, landmarks: Landmarks | None = None
    ) -> dict[str, Tensor]:
        """Same as ``coarse`` (so ``net(x, z_id, z_exp)`` works with hooks and wrappers)."""
        return self.coarse(x, z_id, z_exp, landmarks)

    def coarse(
        self, x: Tensor, z_id: Tensor, z_exp: Tensor, landmarks: Landmarks | None = None
    ) -> dict[str, Tensor]:
        """Stage-1 SDF.

        Args:
            x: (B, N, 3) points in observation space.
            z_id: (B, id_dim); z_exp: (B, exp_dim).
            landmarks: (L_exp, L_id) from ``predict_landmarks``; computed here when None (pass them
                in when evaluating many chunks of the same scans).
        Returns:
            dict with ``sdf`` (B, N), ``x_c`` (B, N, 3), ``x_t`` (B, N, 3), ``delta`` (B, N).
            ``x_c`` is the graph tensor ``sdf`` was computed from, so ``autograd.grad(sdf, x_c)`` gives
            the gradient in canonical space.
        """
        l_exp, l_id = self.predict_landmarks(z_id, z_exp) if landmarks is None else landmarks
        x_c = self.to_canonical(x, z_exp, l_exp)
        x_t, delta = self.to_template(x_c, z_id, l_id)
        sdf = self.template_sdf(x_t) + delta
        return {"sdf": sdf, "x_c": x_c, "x_t": x_t, "delta": delta}

    def fine(
        self,
        x: Tensor,
        z_id: Tensor,
        z_exp: Tensor,
        z_det: Tensor,
        landmarks: Landmarks | None = None,
        create_graph: bool = False,
        detail_scale: float = 1.0,
    ) -> dict[str, Tensor]:
        """Stage-2 SDF with the refinement displacement field (method.md section 3).

        n = normalise(grad_x s(x)) (detached), r = RDF(x_t; z_det, L_tmp),
        d = detail_scale * detail_max * tanh(r) / (1 + (s/detail_fade)^4) (s detached),
        s_fine(x) = s(x + d n) with the same codes.

        Works in any grad mode: the normal's gradient is taken under a local ``enable_grad``, and
        under ``torch.inference_mode`` the inputs are cloned into normal tensors first (outputs are
        then ordinary tensors without a graph). Without grad mode, points are processed in chunks so
        the inner gradient pass needs little memory. With grad mode on, every returned tensor is part
        of the graph (to x if x requires grad, the codes and the parameters).

        Args:
            x: (B, N, 3) points; z_id (B, id_dim), z_exp (B, exp_dim), z_det (B, det_dim).
            landmarks: (L_exp, L_id) or None to predict them.
            create_graph: differentiate through the normal as well (n is then not detached and the inner
                gradient is built with ``create_graph=True``); only has an effect in grad mode. False
                (the default) follows the method: n is a constant for autograd.
            detail_scale: multiplies d (a "detail strength" control; 0 gives the coarse surface).
        Returns:
            dict with ``sdf`` (B, N) fine SDF, ``sdf_coarse`` (B, N), ``displacement`` d (B, N),
            ``normal`` n (B, N, 3), and of the coarse pass at x: ``x_c``, ``x_t`` (B, N, 3) and
            ``delta`` (B, N); and of the pass at x' = x + d n: ``x_fine``, ``x_c_fine`` (the graph tensor
            of the fine SDF in canonical space), ``x_t_fine`` (B, N, 3) and ``delta_fine`` (B, N).
        """
        if torch.is_inference_mode_enabled():
            with torch.inference_mode(False), torch.no_grad():
                lm = None if landmarks is None else (landmarks[0].clone(), landmarks[1].clone())
                return self.fine(
                    x.clone(), z_id.clone(), z_exp.clone(), z_det.clone(), lm, create_graph, detail_scale
                )
        keep_graph = torch.is_grad_enabled()
        if landmarks is None:
            landmarks = self.predict_landmarks(z_id, z_exp)
        n = x.shape[1]
        if keep_graph or n <= _FINE_CHUNK_POINTS:
            return self._fine(x, z_id, z_exp, z_det, landmarks, create_graph, detail_scale, keep_graph)
        step = _FINE_CHUNK_POINTS
        parts = [
            self._fine(x[:, s : s + step], z_id, z_exp, z_det, landmarks, create_graph, detail_scale, False)
            for s in range(0, n, step)
        ]
        return {key: torch.cat([p[key] for p in parts], dim=1) for key in parts[0]}

    def _fine(
        self,
        x: Tensor,
        z_id: Tensor,
        z_exp: Tensor,
        z_det: Tensor,
        landmarks: Landmarks,
        create_graph: bool,
        detail_scale: float,
        keep_graph: bool,
    ) -> dict[str, Tensor]:
        """``fine`` on one chunk; ``keep_graph`` says whether the outputs must carry a graph."""
        with torch.enable_grad():
            x_in = x if (keep_graph and x.requires_grad) else x.detach().requires_grad_(True)
            c0 = self.coarse(x_in, z_id, z_exp, landmarks)
            # d(sum)/dx: the same as grad_outputs=ones, without torch importing sympy (~0.5 s) on the first
            # call, which is the editor's first face
            (grad,) = torch.autograd.grad(
                c0["sdf"].sum(),
                x_in,
                retain_graph=keep_graph,
                create_graph=create_graph and keep_graph,
            )
        normal = F.normalize(grad if (create_graph and keep_graph) else grad.detach(), dim=-1)
        if not keep_graph:
            c0 = {key: value.detach() for key, value in c0.items()}
            x_in = x_in.detach()
        cfg = self.cfg
        with torch.set_grad_enabled(keep_graph):
            r = self.detail_offset(c0["x_t"], z_det)
            fade = 1.0 / (1.0 + (c0["sdf"].detach() / cfg.detail_fade) ** 4)
            d = (detail_scale * cfg.detail_max) * torch.tanh(r) * fade
            x_fine = x_in + d.unsqueeze(-1) * normal
            c1 = self.coarse(x_fine, z_id, z_exp, landmarks)
        return {
            "sdf": c1["sdf"],
            "sdf_coarse": c0["sdf"],
            "displacement": d,
            "normal": normal,
            "x_c": c0["x_c"],
            "x_t": c0["x_t"],
            "delta": c0["delta"],
            "x_fine": x_fine,
            "x_c_fine": c1["x_c"],
            "x_t_fine": c1["x_t"],
            "delta_fine": c1["delta"],
        }
