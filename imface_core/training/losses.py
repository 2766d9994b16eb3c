"""The loss terms of method.md §5, computed for one batch of scans.

``TrainingObjective`` holds the network and the latent code tables, so that one
``forward`` call covers everything a (possibly distributed) step differentiates.
It returns a dict of named, unweighted terms; ``weighted_total`` combines them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from imface_core.model.imface_net import ImFaceNet
from imface_core.model.objective import LANDMARKS5, LossWeights, handover
from imface_core.training.config import TrainConfig


class LatentCodes(nn.Module):
    """Auto-decoder codes: one z_id per identity, one z_exp and one z_det per scan."""

    def __init__(self, n_identities: int, n_scans: int, id_dim: int, exp_dim: int, det_dim: int, init_std: float):
        super().__init__()
        self.id = nn.Embedding(n_identities, id_dim)
        self.exp = nn.Embedding(n_scans, exp_dim)
        self.det = nn.Embedding(n_scans, det_dim)
        for table in (self.id, self.exp, self.det):
            nn.init.normal_(table.weight, 0.0, init_std)


def _gradients(sdf: Tensor, inputs: list[Tensor]) -> list[Tensor]:
    return list(torch.autograd.grad(sdf, inputs, torch.ones_like(sdf), create_graph=True))


def _eikonal(grad: Tensor) -> Tensor:
    return (grad.norm(dim=-1) - 1.0).abs().mean()


def _normal_term(grad: Tensor, normals: Tensor) -> Tensor:
    return (1.0 - F.cosine_similarity(grad, normals, dim=-1)).mean()


class TrainingObjective(nn.Module):
    """The network and code tables of a run; ``forward`` returns every unweighted loss term of one batch.

    With ``anchor_gradients`` False (``TrainConfig.landmark_anchor_gradients``), the geometry and consistency
    terms do not move the predicted landmarks that anchor the blend fields' regions: P_exp and P_id learn only
    from the landmark terms. A mini-net sees ``x - p_k`` and its FiLM phase can absorb a shift of p_k, so nothing
    but the landmark terms holds an anchor on its landmark; in a joint run on 3,600 scans (``scale``) P_exp's
    error grew from 0.009 to 1.6 normalised units (~160 mm) over 10,000 steps while the SDF error kept falling.
    """

    def __init__(self, net: ImFaceNet, codes: LatentCodes, anchor_gradients: bool = True):
        super().__init__()
        self.net = net
        self.codes = codes
        self.anchor_gradients = anchor_gradients

    def forward(self, batch: dict[str, Tensor], fine: bool) -> dict[str, Tensor]:
        net = self.net
        surface, free = batch["surface"], batch["free"]
        n_surface = surface.shape[1]
        x = torch.cat([surface, free], dim=1).requires_grad_(True)
        target = torch.cat([torch.zeros_like(surface[..., 0]), batch["free_sdf"]], dim=1)
        z_id = self.codes.id(batch["identity"])
        z_exp = self.codes.exp(batch["scan"])
        l_exp, l_id = net.predict_landmarks(z_id, z_exp)
        # The anchors the fields see (see the class docstring); the landmark terms below use l_exp, l_id.
        a_exp, a_id = (l_exp, l_id) if self.anchor_gradients else (l_exp.detach(), l_id.detach())

        x_c = net.to_canonical(x, z_exp, a_exp)
        x_t, delta = net.to_template(x_c, z_id, a_id)
        sdf = net.template_sdf(x_t) + delta
        grad_x, grad_c = _gradients(sdf, [x, x_c])

        terms = {
            "sdf": (sdf - target).abs().mean(),
            "normal": _normal_term(grad_x[:, :n_surface], batch["normals"]),
            "eikonal": _eikonal(grad_x),
            "eikonal_canonical": _eikonal(grad_c),
            "code_id": z_id.pow(2).mean(),
            "code_exp": z_exp.pow(2).mean(),
            "correction": delta.abs().mean(),
        }
        # Landmark generation: the landmark nets predict the scan's and the neutral scan's 5 landmarks.
        terms["landmark_exp"] = (l_exp - batch["landmarks"][:, LANDMARKS5]).abs().mean()
        terms["landmark_id"] = (l_id - batch["neutral_landmarks"][:, LANDMARKS5]).abs().mean()
        # Landmark consistency: E maps the scan's 68 onto the neutral 68; I maps those onto the template's.
        lm_c = net.to_canonical(batch["landmarks"], z_exp, a_exp)
        terms["consistency_exp"] = (lm_c - batch["neutral_landmarks"]).abs().mean()
        lm_t, _ = net.to_template(lm_c, z_id, a_id)
        terms["consistency_id"] = (lm_t - net.template_landmarks68).abs().mean()
        # Disentanglement: no expression deformation on neutral scans.
        neutral = batch["is_neutral"]
        terms["disentangle"] = ((x_c - x).abs().sum(-1).mean(-1) * neutral).sum() / neutral.sum().clamp(min=1)

        if fine:
            z_det = self.codes.det(batch["scan"])
            normal = F.normalize(grad_x.detach(), dim=-1)
            fade = 1.0 / (1.0 + (sdf.detach() / net.cfg.detail_fade) ** 4)
            disp = net.cfg.detail_max * torch.tanh(net.detail_offset(x_t, z_det)) * fade
            x_fine = x + disp.unsqueeze(-1) * normal
            x_c2 = net.to_canonical(x_fine, z_exp, a_exp)
            x_t2, delta2 = net.to_template(x_c2, z_id, a_id)
            sdf_fine = net.template_sdf(x_t2) + delta2
            grad_fx, grad_fc = _gradients(sdf_fine, [x, x_c2])
            terms.update(
                sdf_fine=(sdf_fine - target).abs().mean(),
                normal_fine=_normal_term(grad_fx[:, :n_surface], batch["normals"]),
                eikonal_fine=_eikonal(grad_fx),
                eikonal_canonical_fine=_eikonal(grad_fc),
                code_det=z_det.pow(2).mean(),
                displacement_mm=disp.abs().mean().detach() * 100.0,
            )
        return terms


GEOMETRY_TERMS = ("sdf", "normal", "eikonal", "eikonal_canonical")


def weighted_total(terms: dict[str, Tensor], w: LossWeights, coarse: float = 1.0, fine: float = 0.0) -> Tensor:
    """Sum of the weighted terms present in ``terms``; geometry terms scaled by the stage hand-over factors."""
    total = next(iter(terms.values())).new_zeros(())
    for name in GEOMETRY_TERMS:
        if name in terms:
            total = total + coarse * getattr(w, name) * terms[name]
        if f"{name}_fine" in terms:
            total = total + fine * getattr(w, name) * terms[f"{name}_fine"]
    for name in ("code_id", "code_exp", "code_det", "landmark_exp", "landmark_id", "consistency_exp",
                 "consistency_id", "disentangle", "correction"):
        if name in terms:
            total = total + getattr(w, name) * terms[name]
    return total


def stage_of(step: int, cfg: TrainConfig) -> tuple[int, float, float]:
    """(stage, coarse weight, fine weight) at a global step."""
    if step < cfg.stage1_steps:
        return 1, 1.0, 0.0
    progress = (step - cfg.stage1_steps) / max(1.0, cfg.handover_fraction * cfg.stage2_steps)
    coarse, fine = handover(progress, cfg.coarse_floor)
    return 2, coarse, fine
