"""Detail polish: more training of the refinement field (RDF) and z_det with the coarse model frozen.

A stage-2 step evaluates the whole coarse pipeline twice with second derivatives, so on a CPU the RDF
sees few points per scan. With E, I, T, the landmark nets, z_id and z_exp fixed, the fine SDF of
method.md section 3 is, to first order in the small displacement d along the detached normal
n = grad s / |grad s|:

    s_fine(x) = s(x + d n)  ~  s(x) + d |grad s(x)|
    grad_x s_fine           ~  |grad s(x)| (n + grad_x d),   grad_x d = d_max * fade * (1 - tanh^2 r) * J^T grad_xt r

with x_t the template point, r = RDF(x_t; z_det) and J = dx_t/dx. (Along the normal of a distance field
the second-order term vanishes, so the approximation is close; ``imface polish`` prints how close on the
model it polishes.) s, grad s, x_t and J stay fixed while only the RDF and z_det train, so they are
computed once per training point (``DetailCache``) and each step evaluates the RDF alone.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from imface_core.checkpoint import save_checkpoint
from imface_core.io_utils import atomic_path
from imface_core.model.imface_net import ImFaceNet
from imface_core.settings import PolishSettings
from imface_core.training.losses import LatentCodes, weighted_total
from imface_core.training.trainer import CHECKPOINT_NAME, MODEL_NAME, ScanSampler, Trainer, cosine_factor, run_steps

log = logging.getLogger(__name__)

POLISH_METRICS_NAME = "polish_metrics.jsonl"
RESIDUAL_MAPS_NAME = "residual_maps.pt"
"""A fresh field's residual maps, kept in the run folder so that starting the polish again skips them."""
POLISH_KEY = "detail_polish"
"""Checkpoint key of the polish record (settings, step, time, errors before/after)."""
POLISH_STATE_KEY = "detail_polish_state"
"""Checkpoint key of the polish's optimiser and sampler state (training checkpoints only)."""


_FRESH_START_SETTINGS = ("plane_channels", "person_code_std", "plane_init", "residual_points", "plane_bands",
                         "plane_mixing", "code_dim", "plane_smooth_texels")
"""Settings that only say how a fresh field started; a resumed polish keeps the run's."""


@dataclass
class DetailCache:
    """Coarse quantities at fixed surface points, S scans x M points each (float32, CPU or device)."""

    x_t: Tensor  # (S, M, 3) template points
    sdf: Tensor  # (S, M) coarse SDF s(x)
    grad: Tensor  # (S, M, 3) grad_x s
    jacobian: Tensor  # (S, M, 3, 3) J[k, i] = d x_t[k] / d x[i]
    normals: Tensor  # (S, M, 3) the scan's surface normals
    target: Tensor  # (S, M) the SDF the fine field should have there (0 on the surface)

    def take(self, scans: Tensor, columns: Tensor) -> "DetailCache":
        """Rows ``scans`` (B,) and, per row, the points ``columns`` (B, N)."""
        device = self.x_t.device
        rows, columns = scans.to(device).unsqueeze(1), columns.to(device)
        return DetailCache(*(t[rows, columns] for t in (self.x_t, self.sdf, self.grad, self.jacobian, self.normals,
                                                        self.target)))


def coarse_with_jacobian(net: ImFaceNet, x: Tensor, z_id: Tensor, z_exp: Tensor) -> dict[str, Tensor]:
    """Coarse SDF at x (B, N, 3) with grad_x s and the Jacobian of the template point (all detached)."""
    with torch.enable_grad():
        xi = x.detach().clone().requires_grad_(True)
        c = net.coarse(xi, z_id, z_exp)
        (grad,) = torch.autograd.grad(c["sdf"].sum(), xi, retain_graph=True)
        rows = [torch.autograd.grad(c["x_t"][..., k].sum(), xi, retain_graph=k < 2)[0] for k in range(3)]
    return {"sdf": c["sdf"].detach(), "grad": grad, "x_t": c["x_t"].detach(), "jacobian": torch.stack(rows, dim=-2)}


def build_cache(
    net: ImFaceNet,
    codes: LatentCodes,
    surface: Tensor,
    normals: Tensor,
    identity: Tensor,
    target: Tensor | None = None,
    scan_ids: Tensor | None = None,
    chunk_scans: int = 4,
    progress: Callable[[int], None] | None = None,
) -> DetailCache:
    """The cache for S scans with points (S, M, 3) (``target`` SDF (S, M) there, default 0: surface points),
    the surface normals (S, M, 3), identity indices (S,) and scan indices (S,) into the code tables
    (default 0..S-1)."""
    parts: dict[str, list[Tensor]] = {"x_t": [], "sdf": [], "grad": [], "jacobian": []}
    device = next(net.parameters()).device
    scan_ids = torch.arange(surface.shape[0]) if scan_ids is None else scan_ids
    for start in range(0, surface.shape[0], chunk_scans):
        rows = torch.arange(start, min(start + chunk_scans, surface.shape[0]))
        with torch.no_grad():
            z_id, z_exp = codes.id.weight[identity[rows].to(device)], codes.exp.weight[scan_ids[rows].to(device)]
        out = coarse_with_jacobian(net, surface[rows].to(device), z_id, z_exp)
        for key in parts:
            parts[key].append(out[key])
        if progress is not None:
            progress(len(rows))
    target = torch.zeros(surface.shape[:2]) if target is None else target
    return DetailCache(**{k: torch.cat(v) for k, v in parts.items()}, normals=normals.to(device), target=target.to(device))


def linearised_fine(net: ImFaceNet, cache: DetailCache, z_det: Tensor) -> dict[str, Tensor]:
    """Fine SDF ``sdf`` (B, N), its gradient ``grad`` (B, N, 3) and displacement ``displacement`` (B, N)
    at the cached points, to first order in the displacement (module docstring); differentiable in the RDF
    and z_det."""
    cfg = net.cfg
    keep_graph = torch.is_grad_enabled()
    x_t = cache.x_t.detach().requires_grad_(True)
    with torch.enable_grad():
        r = net.detail_offset(x_t, z_det)
        (grad_r,) = torch.autograd.grad(r.sum(), x_t, create_graph=keep_graph)
    g = cache.grad.norm(dim=-1)
    n = cache.grad / g.clamp(min=1e-8).unsqueeze(-1)
    fade = 1.0 / (1.0 + (cache.sdf / cfg.detail_fade) ** 4)
    tanh_r = torch.tanh(r)
    d = cfg.detail_max * tanh_r * fade
    grad_d = (cfg.detail_max * fade * (1.0 - tanh_r**2)).unsqueeze(-1) * torch.einsum(
        "bnki,bnk->bni", cache.jacobian, grad_r
    )
    return {"sdf": cache.sdf + d * g, "grad": g.unsqueeze(-1) * (n + grad_d), "displacement": d}


def linearised_fine_terms(net: ImFaceNet, cache: DetailCache, z_det: Tensor) -> dict[str, Tensor]:
    """Stage-2 fine terms at the cached points through ``linearised_fine``."""
    out = linearised_fine(net, cache, z_det)
    return {
        "sdf_fine": (out["sdf"] - cache.target).abs().mean(),
        "normal_fine": (1.0 - F.cosine_similarity(out["grad"], cache.normals, dim=-1)).mean(),
        "eikonal_fine": (out["grad"].norm(dim=-1) - 1.0).abs().mean(),
        "code_det": z_det.pow(2).mean(),
        "displacement_mm": out["displacement"].detach().abs().mean() * 100.0,
    }


def detail_param_groups(net: ImFaceNet, codes: LatentCodes, lr_net: float, lr_codes: float,
                        plane_scale: float) -> list[dict]:
    """Adam parameter groups of a detail-only step: the RDF's blend field at ``lr_net``, z_det at ``lr_codes`` and
    (with one) the detail plane at ``lr_net * plane_scale``; each group keeps its rate as ``base_lr`` (a rate of 0
    keeps that group as it is)."""
    groups = [{"params": list(net.detail_field.parameters()), "lr": lr_net},
              {"params": [codes.det.weight], "lr": lr_codes}]
    if net.detail_plane is not None:
        groups.append({"params": net.detail_plane_parameters(), "lr": lr_net * plane_scale})
    return [dict(g, base_lr=g["lr"]) for g in groups]


def exact_fine_error_mm(net: ImFaceNet, codes: LatentCodes, surface: Tensor, scans: Tensor, identity: Tensor) -> float:
    """Mean |fine SDF| (mm) of the exact pipeline on surface points (S, N, 3) of ``scans``."""
    device = next(net.parameters()).device
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(scans), 8):
            s = scans[start : start + 8].to(device)
            out = net.fine(surface[start : start + 8].to(device), codes.id.weight[identity[start : start + 8].to(device)],
                           codes.exp.weight[s], codes.det.weight[s])
            total += float(out["sdf"].abs().sum())
            count += out["sdf"].numel()
    return 100.0 * total / max(count, 1)


class DetailPolisher:
    """Polishes the RDF and z_det of the training run in ``run_dir`` (its ``checkpoint.pt``), resumably."""

    def __init__(self, run_dir: str | Path, data_dir: str | Path, settings: PolishSettings | None = None,
                 max_minutes: float | None = None, device: torch.device | None = None, progress: bool = True):
        self.run_dir = Path(run_dir)
        self.trainer = Trainer(data_dir, run_dir, None, resume=True, progress=False, device=device)
        if self.trainer.dist.world > 1:
            raise ValueError("imface polish runs in one process; start it without torchrun")
        from imface_core.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(self.run_dir / CHECKPOINT_NAME)
        record = checkpoint.get(POLISH_KEY)
        state = checkpoint.get(POLISH_STATE_KEY)
        self.settings = settings or (PolishSettings(**record["settings"]) if record else PolishSettings())
        self.record = record or {"step": 0, "seconds": 0.0}
        started = self.record.get("settings", {})
        polished_fresh = bool(started.get("fresh_field"))
        if polished_fresh:  # going on with a fresh field's polish: how that field started stays on record
            kept = {k: started[k] for k in _FRESH_START_SETTINGS if k in started}
            self.settings = replace(self.settings, fresh_field=True, **kept)
        self.record["settings"] = asdict(self.settings)  # changed settings (a longer run): go on from its step
        self.max_seconds = None if max_minutes is None else 60.0 * max_minutes
        self.show_progress = progress
        s = self.settings
        if s.fresh_field and self.record["step"] == 0:
            self.trainer.replace_detail_field(s.person_code_std, code_dim=s.code_dim, plane_channels=s.plane_channels,
                                              plane_mixing=s.plane_mixing)
            if s.plane_init == "residuals":
                self._start_plane_from_residuals()
        elif s.fresh_field and not polished_fresh:
            raise ValueError(f"`{self.run_dir}` was polished already (step {self.record['step']}) without a fresh "
                             "field; start a fresh field from a copy of the run made before that polish")
        net, codes = self.trainer.net, self.trainer.codes
        for p in list(net.parameters()) + list(codes.parameters()):
            p.requires_grad_(False)
        for p in net.detail_parameters() + [codes.det.weight]:
            p.requires_grad_(True)
        plane_scale = s.plane_lr_scale
        if plane_scale is None:
            plane_scale = 1.0 if s.plane_init == "residuals" else self.trainer.cfg.lr_plane_scale
        if plane_scale == 0:  # fixed: no gradients to compute either
            for p in net.detail_plane_parameters():
                p.requires_grad_(False)
        if s.lr_codes == 0:
            codes.det.weight.requires_grad_(False)
        self.optimizer = torch.optim.Adam(detail_param_groups(net, codes, s.lr_net, s.lr_codes, plane_scale))
        self.sampler = ScanSampler(np.arange(len(self.trainer.data)), s.batch_scans, np.random.default_rng(s.seed + 7))
        self.generator = torch.Generator().manual_seed(s.seed + 11)
        if state is not None and self.record["step"] > 0:
            self.optimizer.load_state_dict(state["optimizer"])
            self.sampler.load_state(state["sampler"])
            self.generator.set_state(state["generator"])
        self.cache: DetailCache | None = None

    def _start_plane_from_residuals(self) -> None:
        """The fresh field's detail plane starts from the fine residual patterns of the training scans."""
        from imface_core.training.plane_init import code_mix, fine_basis, residual_maps

        net, s = self.trainer.net, self.settings
        if net.detail_plane is None:
            raise ValueError("--plane-init residuals needs a detail plane: pass --plane-channels C (C > 0)")
        t0 = time.monotonic()
        maps = self._cached_maps()
        if maps is None:
            bar = self._bar(len(self.trainer.data), "residual maps")
            maps = residual_maps(net, self.trainer.codes, self.trainer.data, s.residual_points, s.seed,
                                 progress=None if bar is None else bar.update)
            if bar is not None:
                bar.close()
            with atomic_path(self.run_dir / RESIDUAL_MAPS_NAME) as tmp:
                torch.save({"key": self._maps_key(), "weighted": maps.weighted, "weight": maps.weight,
                            "rows": maps.rows, "columns": maps.columns}, tmp)
        basis = fine_basis(maps, net.detail_plane.channels, bands=s.plane_bands, smooth_texels=s.plane_smooth_texels)
        device = net.detail_plane.features.device
        if net.detail_plane.mix is None:
            net.set_detail_basis(basis.features.to(device))
        else:  # each scan starts at its own projection onto the channels
            det = self.trainer.codes.det.weight
            codes, mix = code_mix(basis.coefficients, det.shape[1], net.cfg.code_scale, self.trainer.cfg.code_init_std)
            net.set_detail_basis(basis.features.to(device), mix.to(device))
            with torch.no_grad():
                det.copy_(codes.to(det.device))
        self.record["plane_basis_energy"] = basis.energy
        log.info("detail plane started from residual maps in %.0f s: %d channels span %.1f %% of their fine band",
                 time.monotonic() - t0, net.detail_plane.channels, 100 * basis.energy)

    def _maps_key(self) -> dict:
        s, plane = self.settings, self.trainer.net.detail_plane
        return {"scans": self.trainer.scan_files(), "run_step": int(self.trainer.step), "points": s.residual_points,
                "seed": s.seed,
                "grid": [plane.rows, plane.columns, plane.texel, plane.half_width, plane.half_height]}

    def _cached_maps(self):
        """The residual maps an earlier start of this polish saved, if they were made the same way."""
        from imface_core.training.plane_init import ResidualMaps

        path = self.run_dir / RESIDUAL_MAPS_NAME
        if not path.exists():
            return None
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a broken cache is only a lost shortcut
            log.warning("ignoring unreadable %s (%s)", path, exc)
            return None
        if saved.get("key") != self._maps_key():
            return None
        log.info("residual maps from %s", path)
        return ResidualMaps(saved["weighted"], saved["weight"], int(saved["rows"]), int(saved["columns"]))

    @property
    def step(self) -> int:
        return int(self.record["step"])

    def _points(self, count: int, seed: int, scans: int | None = None) -> tuple[Tensor, Tensor]:
        """Fixed surface points and normals (S, count, 3) of the first ``scans`` scans (all by default), from
        ``seed`` (the points of a scan do not depend on how many scans follow it)."""
        scans = len(self.trainer.data) if scans is None else scans
        batch = self.trainer.data.batch(np.arange(scans), count, 0, np.random.default_rng(seed))
        return torch.from_numpy(batch["surface"]), torch.from_numpy(batch["normals"])

    def prepare(self) -> None:
        """Build the cache (a few minutes for ~800 scans on a CPU) and measure the starting error."""
        data, net, codes, s = self.trainer.data, self.trainer.net, self.trainer.codes, self.settings
        identity = torch.from_numpy(np.asarray(data.identity_index, dtype=np.int64))
        surface, normals = self._points(s.cache_points, s.seed)
        target = torch.zeros(surface.shape[:2])
        if s.near_surface_mm > 0:
            gen = torch.Generator().manual_seed(s.seed + 3)
            half = s.cache_points // 2
            offset = (torch.rand(surface.shape[0], s.cache_points - half, generator=gen) * 2 - 1) * (s.near_surface_mm / 100)
            surface = surface.clone()
            surface[:, half:] += offset.unsqueeze(-1) * normals[:, half:]
            target[:, half:] = offset
        self._first_surface = surface[:8]
        bar = self._bar(len(data), "cache")
        t0 = time.monotonic()
        self.cache = build_cache(net, codes, surface, normals, identity, target, progress=None if bar is None else bar.update)
        if bar is not None:
            bar.close()
        log.info("cache of %d x %d points built in %.0f s", len(data), s.cache_points, time.monotonic() - t0)
        check = torch.arange(min(s.check_scans, len(data)))
        self.check_points = self._points(2048, s.seed + 1, len(check))[0]
        self.check_scans, self.check_identity = check, identity[check]
        self.linearisation_error_mm = self._linearisation_error_mm()
        log.info("linearised vs exact fine SDF on cached points: mean %.5f mm", self.linearisation_error_mm)
        if "error_before_mm" not in self.record:
            self.record["error_before_mm"] = self.exact_error_mm()

    def _linearisation_error_mm(self) -> float:
        """Mean |linearised - exact| fine SDF (mm) on the first scans' cached points."""
        net, codes = self.trainer.net, self.trainer.codes
        scans = self.check_scans[:8]
        columns = torch.arange(min(1024, self.settings.cache_points)).expand(len(scans), -1)
        part = self.cache.take(scans, columns)
        device = part.x_t.device
        with torch.no_grad():
            z_det = codes.det.weight[scans.to(device)]
            linear = linearised_fine(net, part, z_det)["sdf"]
        x = self._first_surface[: len(scans)][:, : columns.shape[1]].to(device)
        ident = self.check_identity[:8].to(device)
        with torch.no_grad():
            exact = net.fine(x, codes.id.weight[ident], codes.exp.weight[scans.to(device)], z_det)["sdf"]
        return float((linear - exact).abs().mean() * 100.0)

    def exact_error_mm(self) -> float:
        """Mean |fine SDF| (mm) of the exact pipeline on fixed surface points of the first ``check_scans`` scans."""
        return exact_fine_error_mm(self.trainer.net, self.trainer.codes, self.check_points, self.check_scans,
                                   self.check_identity)

    def _bar(self, total: int, desc: str, initial: int = 0):
        if not self.show_progress:
            return None
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc=desc, unit="step" if desc == "polish" else "scan")

    def lr_factor(self, step: int) -> float:
        s = self.settings
        warm = min(1.0, (step + 1) / max(1, s.warmup_steps))
        return warm * cosine_factor(step / max(1, s.steps), 1.0, s.lr_final_fraction)

    def train_step(self) -> dict[str, float]:
        s, net, codes = self.settings, self.trainer.net, self.trainer.codes
        factor = self.lr_factor(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        scans = torch.from_numpy(self.sampler.next())
        columns = torch.randint(0, s.cache_points, (len(scans), s.points), generator=self.generator)
        part = self.cache.take(scans, columns)
        terms = linearised_fine_terms(net, part, codes.det.weight[scans.to(part.x_t.device)])
        loss = weighted_total(terms, self.trainer.cfg.weights, coarse=0.0, fine=1.0)
        values = torch.stack([loss.detach()] + [v.detach() for v in terms.values()]).tolist()
        if not math.isfinite(values[0]):
            raise FloatingPointError(f"detail polish: loss became {values[0]} at step {self.step}; lower --lr")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.record["step"] = self.step + 1
        return {"step": self.step, "loss": values[0], **dict(zip(terms.keys(), values[1:])), "lr_factor": factor}

    def save(self, final: bool = False) -> None:
        payload = self.trainer.payload(with_training_state=True)
        payload[POLISH_KEY] = dict(self.record)
        payload[POLISH_STATE_KEY] = {"optimizer": self.optimizer.state_dict(), "sampler": self.sampler.state(),
                                     "generator": self.generator.get_state()}
        save_checkpoint(self.run_dir / CHECKPOINT_NAME, payload)
        if final:
            model = self.trainer.payload(with_training_state=False)
            model[POLISH_KEY] = dict(self.record)
            save_checkpoint(self.run_dir / MODEL_NAME, model)

    def run(self) -> dict:
        """Polish to ``settings.steps`` (or the time limit / Ctrl+C), checkpointing; returns the record."""
        if self.cache is None:
            self.prepare()
        s = self.settings
        bar = self._bar(s.steps, "polish", self.step)
        seconds_before = float(self.record["seconds"])

        def on_step(row: dict, since_start: float, step_seconds: float) -> None:
            self.record["seconds"] = seconds_before + since_start
            row["seconds"] = round(self.record["seconds"], 1)

        try:
            with open(self.run_dir / POLISH_METRICS_NAME, "a") as metrics:
                run_steps(self.train_step, lambda: self.step, s.steps, on_step=on_step, log_every=s.log_every,
                          metrics=metrics, bar=bar,
                          postfix=lambda r: {"fine_mm": f"{100 * r['sdf_fine']:.3f}",
                                             "disp_mm": f"{r['displacement_mm']:.3f}"},
                          save=self.save, checkpoint_minutes=s.checkpoint_minutes, max_seconds=self.max_seconds)
        except KeyboardInterrupt:
            log.warning("interrupted at polish step %d; saving", self.step)
        finally:
            if bar is not None:
                bar.close()
        self.record["error_after_mm"] = self.exact_error_mm()
        self.record["linearisation_error_mm"] = self.linearisation_error_mm
        self.save(final=True)
        return dict(self.record)
