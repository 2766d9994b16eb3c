"""Staged latent-code optimisation against a scan's samples (method.md §6).

Networks frozen, codes start at the mean training codes. Three phases:

1. **coarse** (``stage1_fraction`` of the steps): z_id and z_exp, coarse SDF
   term on surface and free points, normal and eikonal terms on a subset of
   the surface points, code regularisation (and, when the scan's landmarks are
   known, the landmark terms: the landmark net's five onto the scan's, and the
   scan's 68 warped into template space onto the template's). A rigid pose of the samples is refined along
   (``optimise_pose``): the scan was aligned to the *mean* face, and part of
   how this person differs from it is rigid. The pose is fixed afterwards.
   Coarse to fine: the batches grow from ``first_batch_fraction`` of the points
   per step to all of them, so the early steps, far from the answer, are cheap.
2. **hand-over** (``handover_fraction`` of the remaining steps): z_det joins;
   the loss moves from the coarse to the fine SDF term along
   ``model.objective.handover`` (cosine) while the learning rate of z_id/z_exp
   falls to zero along the same cosine.
3. **detail**: z_det alone with the fine SDF term. z_id and z_exp are frozen,
   so the coarse pass at each sample (its x_t, SDF and gradient) is computed
   once for a pool of points, and the fine SDF s(x + d n) is taken to first
   order in d (as the fitted mesh's displacement is): each step costs one pass
   of the refinement field, not two coarse passes and a gradient.

Loss weights are the training weights (``FaceModel.objective``). Learning rates are
relative to the spread (RMS) of the training codes of each table, so the same
settings work for models whose codes have different scales.
Deterministic for a seed (on a fixed number of threads).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from imface_core.engine.chunks import check_cancel
from imface_core.face_codes import FaceCodes
from imface_core.settings import FitSettings
from imface_core.fitting.samples import FitSamples
from imface_core.model.objective import LANDMARKS5, handover


@dataclass
class FitProgress:
    """What a progress callback receives after every step."""

    step: int
    steps: int
    phase: str
    loss: float
    sdf_mm: float
    """Mean |SDF| on this step's surface points, mm (of the surface the phase optimises)."""
    elapsed_s: float


@dataclass
class CodeFit:
    """Result of ``fit_codes``."""

    codes: FaceCodes
    stage1_codes: FaceCodes
    """Codes at the end of stage 1 (z_det still the mean): the stage-1-only result."""
    pose: np.ndarray = field(default_factory=lambda: np.eye(4))
    """4x4 rigid transform (normalised units) from the samples' frame to the frame the codes describe."""
    history: list[dict] = field(default_factory=list)
    stages: dict[str, dict] = field(default_factory=dict)
    """Per phase: steps, seconds, first and final loss and surface error (mm)."""
    seconds: float = 0.0


def _cosine(progress: float, final: float) -> float:
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def _rms(table: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(table)))) + 1e-6


def fit_codes(
    model,
    samples: FitSamples,
    settings: FitSettings = FitSettings(),
    progress: Callable[[FitProgress], None] | None = None,
    cancel=None,
    init: FaceCodes | None = None,
) -> CodeFit:
    """Optimise (z_id, z_exp, z_det) so that the model's SDF matches the samples.

    Args:
        model: a ``FaceModel`` (networks are not changed).
        samples: from ``prepare_samples`` / ``samples_from_prepared`` (normalised units).
        settings: ``FitSettings``.
        progress: called with a ``FitProgress`` after every step.
        cancel: a ``threading.Event`` (``engine.chunks.CancelToken``); checked before every step, raises
            ``errors.Cancelled``.
        init: starting codes (default: the model's mean codes).
    """
    t0 = time.perf_counter()
    net, dev, w = model.net, model.device, model.objective.weights
    w_normal = w.normal if settings.normal_weight is None else settings.normal_weight
    w_eik = w.eikonal if settings.eikonal_weight is None else settings.eikonal_weight
    floor = model.objective.coarse_floor if settings.coarse_floor is None else settings.coarse_floor
    rng = np.random.default_rng(settings.seed)
    torch.manual_seed(settings.seed)

    start = model.check_codes(init) if init is not None else model.mean_codes()  # CodesError for unusable codes
    z_id, z_exp, z_det = (torch.tensor(np.asarray(c, dtype=np.float32), device=dev)[None].requires_grad_(True)
                          for c in (start.z_id, start.z_exp, start.z_det))
    lr = {k: settings.lr * _rms(model.tables[k]) for k in ("id", "exp", "det")}
    omega = torch.zeros(3, device=dev, requires_grad=True)
    tau = torch.zeros(3, device=dev, requires_grad=True)
    lr_pose = (settings.lr_pose_rotation, settings.lr_pose_translation) if settings.optimise_pose else (0.0, 0.0)
    opt = _Adam([z_id, z_exp, z_det, omega, tau], [lr["id"], lr["exp"], lr["det"], *lr_pose])

    def pose(x):
        return x @ _rotation(omega).T + tau

    surf = torch.as_tensor(samples.surface, device=dev)
    surf_n = torch.as_tensor(samples.normals, device=dev)
    free = torch.as_tensor(samples.free, device=dev)
    free_sdf = torch.as_tensor(samples.free_sdf, device=dev)
    marks = None
    if samples.landmarks is not None:
        lm = np.asarray(samples.landmarks, dtype=np.float32)
        marks = _LandmarkTerms(torch.as_tensor(lm[LANDMARKS5] if len(lm) == 68 else lm, device=dev)[None],
                               *_correspondence_landmarks(lm, net, settings, dev))
    n_s = min(settings.surface_points, len(surf))
    n_f = min(settings.free_points, len(free))
    n_g = min(settings.gradient_points, n_s)

    steps = max(1, int(settings.steps))
    s1 = max(1, int(round(settings.stage1_fraction * steps))) if steps > 1 else 1
    s2 = steps - s1
    hand = int(round(settings.handover_fraction * s2))
    phases = {"coarse": (0, s1), "handover": (s1, s1 + hand), "detail": (s1 + hand, steps)}

    history: list[dict] = []
    stages: dict[str, dict] = {}
    stage1_codes = None
    cache = None

    def batch(share: float = 1.0):
        k_s, k_f = (max(1, round(n * share)) for n in (n_s, n_f))
        si = torch.as_tensor(rng.choice(len(surf), k_s, replace=False), device=dev)
        fi = torch.as_tensor(rng.choice(len(free), k_f, replace=False), device=dev)
        return si, fi

    for step in range(steps):
        check_cancel(cancel, f"fit at step {step} of {steps}")
        phase = "coarse" if step < s1 else ("handover" if step < s1 + hand else "detail")
        p0, p1 = phases[phase]
        prog = (step - p0) / max(1, p1 - p0)
        decay = _cosine(prog, settings.lr_final_fraction)
        if phase != "coarse" and omega.requires_grad:
            # The pose is fixed after stage 1: move the samples once and for all.
            omega.requires_grad_(False)
            tau.requires_grad_(False)
            with torch.no_grad():
                surf, free = pose(surf), pose(free)
        if phase == "coarse":
            opt.lr[0], opt.lr[1] = lr["id"] * decay, lr["exp"] * decay
            opt.lr[2] = 0.0
            opt.lr[3], opt.lr[4] = lr_pose[0] * decay, lr_pose[1] * decay
        elif phase == "handover":
            coarse_w, fine_w = handover(prog, floor)
            fade = _cosine(prog, 0.0) * settings.lr_final_fraction
            opt.lr[0], opt.lr[1] = lr["id"] * fade, lr["exp"] * fade
            opt.lr[2] = lr["det"]
            opt.lr[3] = opt.lr[4] = 0.0
        else:
            opt.lr[0] = opt.lr[1] = 0.0
            opt.lr[2] = lr["det"] * decay
            opt.lr[3] = opt.lr[4] = 0.0

        if phase == "coarse":
            # Coarse to fine: small batches while the codes are far off, all the points by the phase's end.
            share = settings.first_batch_fraction + (1.0 - settings.first_batch_fraction) * step / max(1, s1 - 1)
            si, fi = batch(share)
            k_g = min(len(si), max(1, round(n_g * share)))
            loss, sdf_mm = _coarse_loss(net, pose, surf[si], surf_n[si[:k_g]], k_g, free[fi], free_sdf[fi], z_id,
                                        z_exp, w, w_normal, w_eik, settings, marks)
        elif phase == "handover":
            si, fi = batch()
            x = torch.cat([surf[si], free[fi]])[None]
            target = torch.cat([torch.zeros(n_s, device=dev), free_sdf[fi]])
            out = net.fine(x, z_id, z_exp, z_det)
            err_c = (out["sdf_coarse"][0] - target).abs()
            err_f = (out["sdf"][0] - target).abs()
            loss = w.sdf * (coarse_w * err_c.mean() + fine_w * err_f.mean()) + _code_reg(z_id, z_exp, z_det, w, settings)
            sdf_mm = float(err_f[:n_s].detach().mean()) * 100.0
        else:
            if cache is None:
                if z_id.grad is not None:
                    z_id.grad = None
                    z_exp.grad = None
                z_id.requires_grad_(False)
                z_exp.requires_grad_(False)
                cache = _detail_cache(net, surf, free, free_sdf, z_id, z_exp, settings.detail_pool, rng)
            ci = torch.as_tensor(rng.choice(cache["n_surface"], min(n_s, cache["n_surface"]), replace=False))
            cf = torch.as_tensor(cache["n_surface"] + rng.choice(cache["n_free"], min(n_f, cache["n_free"]),
                                                                  replace=False))
            idx = torch.cat([ci, cf]).to(dev)
            s_fine = _cached_fine_sdf(net, cache, idx, z_det)
            err = (s_fine - cache["target"][idx]).abs()
            loss = w.sdf * err.mean() + settings.code_reg_scale * w.code_det * z_det.pow(2).mean()
            sdf_mm = float(err[: len(ci)].detach().mean()) * 100.0

        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == s1 - 1:
            stage1_codes = _codes_of(z_id, z_exp, z_det)
        elapsed = time.perf_counter() - t0
        rec = {"step": step, "phase": phase, "loss": float(loss.detach()), "sdf_mm": sdf_mm, "seconds": elapsed}
        history.append(rec)
        st = stages.setdefault(phase, {"steps": 0, "first_loss": rec["loss"], "first_sdf_mm": sdf_mm, "start_s": elapsed})
        st["steps"] += 1
        st["final_loss"] = float(np.mean([h["loss"] for h in history[-10:] if h["phase"] == phase]))
        st["final_sdf_mm"] = float(np.mean([h["sdf_mm"] for h in history[-10:] if h["phase"] == phase]))
        st["seconds"] = elapsed - st["start_s"]
        if progress is not None:
            progress(FitProgress(step + 1, steps, phase, rec["loss"], sdf_mm, elapsed))

    for st in stages.values():
        st.pop("start_s", None)
    codes = _codes_of(z_id, z_exp, z_det)
    pose_matrix = np.eye(4)
    pose_matrix[:3, :3] = _rotation(omega.detach()).cpu().numpy()
    pose_matrix[:3, 3] = tau.detach().cpu().numpy()
    return CodeFit(codes, stage1_codes or codes, pose_matrix, history, stages, time.perf_counter() - t0)


class _Adam:
    """Adam (Kingma & Ba, as ``torch.optim.Adam`` with its defaults) on a few tensors, one learning rate each.

    ``torch.optim`` imports torch._dynamo on first use (2 s of a 20 s fit on a 2-core CPU); five code
    tensors need none of it.
    """

    def __init__(self, params: list, lr: list[float], betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps = params, list(lr), betas, eps
        self.m = [torch.zeros_like(p) for p in params]
        self.v = [torch.zeros_like(p) for p in params]
        self.t = [0] * len(params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        b1, b2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            self.t[i] += 1
            self.m[i].mul_(b1).add_(p.grad, alpha=1 - b1)
            self.v[i].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            if self.lr[i] == 0.0:
                continue
            denom = (self.v[i] / (1 - b2 ** self.t[i])).sqrt_().add_(self.eps)
            p.addcdiv_(self.m[i], denom, value=-self.lr[i] / (1 - b1 ** self.t[i]))


def _rotation(omega):
    """Rotation matrix exp([omega]_x) of a rotation vector (3,)."""
    zero = omega.new_zeros(())
    k = torch.stack([torch.stack([zero, -omega[2], omega[1]]), torch.stack([omega[2], zero, -omega[0]]),
                     torch.stack([-omega[1], omega[0], zero])])
    return torch.linalg.matrix_exp(k)


def _codes_of(z_id, z_exp, z_det) -> FaceCodes:
    return FaceCodes(*(z.detach()[0].cpu().numpy().astype(np.float32).copy() for z in (z_id, z_exp, z_det)))


def _code_reg(z_id, z_exp, z_det, w, settings):
    reg = w.code_id * z_id.pow(2).mean() + w.code_exp * z_exp.pow(2).mean()
    if z_det is not None:
        reg = reg + w.code_det * z_det.pow(2).mean()
    return settings.code_reg_scale * reg


class _LandmarkTerms(NamedTuple):
    """A scan's landmarks for the fit's landmark terms (normalised units, the scan's frame before the pose)."""

    five: Tensor
    """(1, 5, 3) the landmark net's five."""
    scan68: Tensor | None
    """(1, M, 3) those of the 68 the correspondence term uses (None: fewer than 68 given, or its weight is 0)."""
    template68: Tensor | None
    """(1, M, 3) the same landmarks on the template."""


def _correspondence_landmarks(lm: np.ndarray, net, settings: FitSettings, dev) -> tuple[Tensor | None, Tensor | None]:
    """The scan's landmarks the correspondence term uses, and the template's same ones."""
    if len(lm) != 68 or settings.landmark_correspondence_weight <= 0:
        return None, None
    use = np.arange(68) if settings.correspondence_landmarks is None else np.asarray(settings.correspondence_landmarks)
    template = net.template_landmarks68.detach()[torch.as_tensor(use, device=net.template_landmarks68.device)]
    return torch.as_tensor(lm[use], device=dev)[None], template[None].to(dev)


def _coarse_loss(net, pose, surface, normals_g, n_g, free, free_sdf, z_id, z_exp, w, w_normal, w_eik, settings,
                 marks: _LandmarkTerms | None):
    """Stage-1 loss at ``pose``-moved points: SDF on all; normal and eikonal terms on the first ``n_g``
    surface points (gradients taken with respect to the unmoved points, so they compare with the
    unmoved normals). With landmarks: the landmark net's five onto the scan's, and (68 given) the scan's landmarks
    warped to template space onto the template's: the training's two consistency terms in one."""
    landmarks = net.predict_landmarks(z_id, z_exp)
    xg = surface[:n_g].detach().requires_grad_(True)
    out_g = net.coarse(pose(xg)[None], z_id, z_exp, landmarks)
    rest = pose(torch.cat([surface[n_g:], free]))[None]
    out_r = net.coarse(rest, z_id, z_exp, landmarks)
    sdf = torch.cat([out_g["sdf"][0], out_r["sdf"][0]])
    target = torch.cat([torch.zeros(len(surface), device=sdf.device), free_sdf])
    err = (sdf - target).abs()
    loss = w.sdf * err.mean() + _code_reg(z_id, z_exp, None, w, settings)
    if n_g and (w_normal > 0 or w_eik > 0):
        g_x, g_c = torch.autograd.grad(out_g["sdf"], [xg, out_g["x_c"]], torch.ones_like(out_g["sdf"]),
                                       create_graph=True)
        loss = loss + w_normal * (1.0 - F.cosine_similarity(g_x, normals_g, dim=-1)).mean()
        loss = loss + w_eik * ((g_x.norm(dim=-1) - 1).abs().mean() + (g_c.norm(dim=-1) - 1).abs().mean())
    if marks is not None:
        loss = loss + settings.landmark_weight * (landmarks[0] - pose(marks.five[0])[None]).abs().mean()
        if marks.scan68 is not None:
            lm_c = net.to_canonical(pose(marks.scan68[0])[None], z_exp, landmarks[0])
            lm_t = net.to_template(lm_c, z_id, landmarks[1])[0]
            loss = loss + settings.landmark_correspondence_weight * (lm_t - marks.template68).abs().mean()
    return loss, float(err[: len(surface)].detach().mean()) * 100.0


def _detail_cache(net, surf, free, free_sdf, z_id, z_exp, pool: int, rng) -> dict:
    """Coarse pass at a pool of points ``x`` (surface ones first) for the detail phase (z_id, z_exp frozen): x_t,
    the SDF and its slope |grad s|."""
    n_free = min(len(free), max(1, pool // 4))
    n_surf = min(len(surf), pool - n_free)
    si = torch.as_tensor(rng.choice(len(surf), n_surf, replace=False))
    fi = torch.as_tensor(rng.choice(len(free), n_free, replace=False))
    x_all = torch.cat([surf[si.to(surf.device)], free[fi.to(free.device)]])
    target = torch.cat([torch.zeros(n_surf, device=x_all.device), free_sdf[fi.to(free.device)]])
    landmarks = tuple(t.detach() for t in net.predict_landmarks(z_id, z_exp))
    parts = {"x_t": [], "sdf": [], "slope": []}
    for s in range(0, len(x_all), 8192):
        x = x_all[s : s + 8192][None].clone().requires_grad_(True)
        with torch.enable_grad():
            out = net.coarse(x, z_id, z_exp, landmarks)
            (g,) = torch.autograd.grad(out["sdf"], x, torch.ones_like(out["sdf"]))
        parts["x_t"].append(out["x_t"][0].detach())
        parts["sdf"].append(out["sdf"][0].detach())
        parts["slope"].append(g[0].norm(dim=-1))
    cache = {k: torch.cat(v) for k, v in parts.items()}
    cache.update(x=x_all, target=target, n_surface=n_surf, n_free=n_free)
    return cache


def _cached_fine_sdf(net, cache, idx, z_det):
    """s_fine at cached points (method.md §3) to first order in the displacement: s(x + d n) = s(x) + d |grad s(x)|
    with n = grad s / |grad s|. Exact where s is linear along the normal (a distance field is, off its medial
    axis); the fitted mesh is made with the same step (``method="displace"``). One detail-field pass per point,
    no coarse pass."""
    cfg = net.cfg
    r = net.detail_offset(cache["x_t"][idx][None], z_det)[0]
    sdf = cache["sdf"][idx]
    fade = 1.0 / (1.0 + (sdf / cfg.detail_fade) ** 4)
    return sdf + cfg.detail_max * torch.tanh(r) * fade * cache["slope"][idx]
