"""The two-stage training loop of ``imface train``: resumable, time-limited, DDP-ready.

Stage 1 fits the expression, identity and template fields, the landmark nets
and the z_id / z_exp codes with the coarse terms. Stage 2 adds the refinement
displacement field and z_det, handing the geometry-loss weight over from the
coarse to the fine SDF with a cosine. Under ``torchrun`` each process trains
on its share of the scans and DistributedDataParallel keeps the weights equal.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.distributed as dist

from imface_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from imface_core.compute import resolve_device
from imface_core.errors import OutputPathError
from imface_core.data.dataset import FaceScanDataset, list_scans
from imface_core.model.imface_net import ImFaceNet
from imface_core.training.config import TrainConfig, continued
from imface_core.model.objective import LANDMARKS5
from imface_core.training.losses import LatentCodes, TrainingObjective, stage_of, weighted_total

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
MODEL_NAME = "model.pt"
METRICS_NAME = "metrics.jsonl"
CURVE_NAME = "loss_curve.png"
AFTER_TRAINING = ("face_region", "expression_gains")
"""Checkpoint entries written by steps after training (``imface region``, ``imface calibrate``)."""


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> Distributed:
    """Join the torchrun process group when launched by torchrun (gloo on CPU, nccl on GPU)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) < 2:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(dist.get_rank(), dist.get_world_size())


def keep_previous_run(out_dir: Path, force: bool, move: bool = True) -> None:
    """Refuse to start a new run over a folder that holds one; with ``force``, keep its files as ``*.prev.pt``."""
    existing = [name for name in (CHECKPOINT_NAME, MODEL_NAME) if (out_dir / name).exists()]
    if not existing:
        return
    if not force:
        raise OutputPathError(f"`{out_dir}` already holds a training run ({', '.join(existing)}): use --resume to "
                              "continue it, or --force to start over (the old files are kept as *.prev.pt)")
    if move:
        for name in existing:
            os.replace(out_dir / name, out_dir / name.replace(".pt", ".prev.pt"))


class ScanSampler:
    """Visits a process's scans in shuffled epochs, ``batch`` at a time (state is saved for resume)."""

    def __init__(self, scan_ids: np.ndarray, batch: int, rng: np.random.Generator):
        self.scan_ids = np.asarray(scan_ids)
        self.batch = min(batch, len(scan_ids))
        self.rng = rng
        self.order = rng.permutation(self.scan_ids)
        self.pos = 0

    def next(self) -> np.ndarray:
        if self.pos + self.batch > len(self.order):
            self.order = self.rng.permutation(self.scan_ids)
            self.pos = 0
        out = self.order[self.pos : self.pos + self.batch]
        self.pos += self.batch
        return out

    def state(self) -> dict:
        return {"rng": json.dumps(self.rng.bit_generator.state), "order": torch.from_numpy(self.order.copy()), "pos": self.pos}

    def load_state(self, state: dict) -> None:
        self.rng.bit_generator.state = json.loads(state["rng"])
        self.order = state["order"].numpy().copy()
        self.pos = int(state["pos"])


def build_network(cfg: TrainConfig, template68: np.ndarray) -> ImFaceNet:
    t68 = torch.as_tensor(template68, dtype=torch.float32)
    return ImFaceNet(cfg.model, t68[LANDMARKS5], t68)


def cosine_factor(progress: float, peak: float, final: float) -> float:
    """Cosine from ``peak`` at progress 0 to ``final`` at progress 1 (clamped)."""
    t = min(max(progress, 0.0), 1.0)
    return final + (peak - final) * 0.5 * (1.0 + math.cos(math.pi * t))


def learning_rate_factor(step: int, cfg: TrainConfig) -> float:
    """Cosine from 1 to ``lr_final_fraction`` over the run, or from ``lr_restart_peak`` after a restart."""
    start, peak = (cfg.lr_restart_step, cfg.lr_restart_peak) if 0 < cfg.lr_restart_step <= step else (0, 1.0)
    return cosine_factor((step - start) / max(1, cfg.total_steps - start), peak, cfg.lr_final_fraction)


def batch_to_tensors(batch: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    """A ``FaceScanDataset.batch`` as tensors on ``device`` (flags as floats), ready for the objective."""
    out = {}
    for key, value in batch.items():
        t = torch.from_numpy(np.ascontiguousarray(value))
        out[key] = (t.float() if t.dtype == torch.bool else t).to(device)
    return out


PLANE_FEATURES_KEY = "detail_plane.features"


def half_plane_state(state: dict) -> dict:
    """``state`` (an ``ImFaceNet`` state dict) with the detail plane's features in float16: the plane is most of a
    model with one (200 channels over 211 x 161 texels: 27 MB in float32), its features are O(1), and loading
    casts them back to float32 (``load_state_dict`` copies into the float32 parameter); the round trip moves a
    feature by at most 0.05 % of its size."""
    if PLANE_FEATURES_KEY not in state:
        return state
    return {**state, PLANE_FEATURES_KEY: state[PLANE_FEATURES_KEY].half()}


class Trainer:
    """One training run in ``out_dir`` (fresh or resumed)."""

    def __init__(
        self,
        data_dir: str | Path,
        out_dir: str | Path,
        cfg: TrainConfig,
        resume: bool = False,
        max_minutes: float | None = None,
        device: torch.device | None = None,
        progress: bool = True,
        resume_overrides: dict | None = None,
        force: bool = False,
    ):
        self.out_dir = Path(out_dir)
        self.device = device or resolve_device()
        self.dist = init_distributed(self.device)
        if not resume:
            keep_previous_run(self.out_dir, force, move=self.dist.main)
        self.max_seconds = None if max_minutes is None else max_minutes * 60.0
        self.show_progress = progress and self.dist.main
        checkpoint = None
        if resume:
            path = self.out_dir / CHECKPOINT_NAME
            if not path.exists():
                raise CheckpointError(f"--resume: no checkpoint in `{self.out_dir}` to resume from")
            checkpoint = load_checkpoint(path)
            cfg = TrainConfig.from_dict(checkpoint["config"])
            if resume_overrides:
                cfg = continued(cfg, int(checkpoint["step"]), **resume_overrides)
            if "optimizer" not in checkpoint:
                raise CheckpointError(f"`{path}` holds no optimiser state; it cannot be resumed")
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        scans = list_scans(data_dir)
        share = set(range(self.dist.rank, len(scans), self.dist.world))
        self.data = FaceScanDataset(data_dir, max_surface_points=cfg.max_surface_points_in_memory, load_only=share)
        if checkpoint is not None and [s["file"] for s in checkpoint["scans"]] != self.scan_files():
            raise CheckpointError(f"--resume: the scans in `{data_dir}` differ from those the checkpoint was trained on")
        m = cfg.model
        template68 = self.data.template_landmarks() if checkpoint is None else checkpoint["model_state"]["template_landmarks68"].numpy()
        self.net = build_network(cfg, template68).to(self.device)
        self.codes = LatentCodes(len(self.data.identities), len(self.data), m.id_dim, m.exp_dim, m.det_dim, cfg.code_init_std).to(self.device)
        self.objective = TrainingObjective(self.net, self.codes, cfg.landmark_anchor_gradients)
        self.model = self.objective
        if self.dist.world > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(self.objective, find_unused_parameters=True)
        self.optimizer = self._new_optimizer()
        self.sampler = ScanSampler(np.array(sorted(share)), cfg.batch_scans, np.random.default_rng(cfg.seed + 1000 * self.dist.rank))
        self.points_rng = np.random.default_rng(cfg.seed + 1 + 1000 * self.dist.rank)
        self.step = 0
        self.elapsed = 0.0
        self.learnt_after: dict = {}
        """What steps after training stored in the checkpoint this run resumed (its face region from ``imface
        region``, its expression gains from ``imface calibrate``), kept in every file this run writes."""
        if checkpoint is not None:
            self._restore(checkpoint)

    def _new_optimizer(self) -> torch.optim.Adam:
        """Adam over the networks, the code tables and (with one) the RDF's detail plane at its own rate."""
        cfg = self.cfg
        plane = self.net.detail_plane_parameters()
        in_plane = {id(p) for p in plane}
        groups = [
            {"params": [p for p in self.net.parameters() if id(p) not in in_plane], "lr": cfg.lr_net,
             "base_lr": cfg.lr_net},
            {"params": list(self.codes.parameters()), "lr": cfg.lr_codes, "base_lr": cfg.lr_codes},
        ]
        if plane:
            rate = cfg.lr_net * cfg.lr_plane_scale
            groups.append({"params": plane, "lr": rate, "base_lr": rate})
        return torch.optim.Adam(groups)

    def replace_detail_field(self, person_code_std: float = 0.0, width: int | None = None,
                             code_dim: int | None = None, first_omega0: float | None = None,
                             plane_channels: int | None = None, plane_mixing: str | None = None) -> None:
        """Start the RDF and z_det afresh (zero detail), optionally of another size (``ImFaceNet.reset_detail_field``).

        z_det starts at N(0, code_init_std^2) per scan plus, with ``person_code_std`` > 0, one N(0,
        person_code_std^2) vector shared by all scans of a person, so that a person's scans begin by asking the
        field for the same detail (their wrinkles lie on the same skin). The optimiser keeps its state for the
        other parameters, so the run can still be resumed with ``imface train --resume``.
        """
        self.net.reset_detail_field(width, code_dim, first_omega0, plane_channels, plane_mixing)
        self.cfg = replace(self.cfg, model=self.net.cfg)
        device = self.net.template_landmarks5.device
        self.codes.det = torch.nn.Embedding(len(self.data), self.net.cfg.det_dim).to(device)
        det = self.codes.det.weight
        with torch.no_grad():
            det.normal_(0.0, self.cfg.code_init_std)
            if person_code_std > 0:
                person = torch.as_tensor(np.asarray(self.data.identity_index, dtype=np.int64), device=device)
                shared = torch.randn(len(self.data.identities), det.shape[1], device=device) * person_code_std
                det += shared[person]
        previous, self.optimizer = self.optimizer, self._new_optimizer()
        for group in self.optimizer.param_groups:  # the kept parameters keep their Adam moments
            for p in group["params"]:
                if p in previous.state:
                    self.optimizer.state[p] = previous.state[p]

    # -- state ---------------------------------------------------------------------------------
    def scan_files(self) -> list[str]:
        """Each training scan as `identity/file name`, in the order of the code tables."""
        return [f"{s.identity}/{s.path.name}" for s in self.data.scans]

    def payload(self, with_training_state: bool) -> dict:
        """What a checkpoint (``with_training_state``: resumable) or a model file holds. A model file keeps the
        detail plane's features in float16 (``half_plane_state``)."""
        state = self.net.state_dict()
        out = {
            "config": self.cfg.to_dict(),
            "model_state": state if with_training_state else half_plane_state(state),
            "codes": {"id": self.codes.id.weight.detach().cpu(), "exp": self.codes.exp.weight.detach().cpu(),
                      "det": self.codes.det.weight.detach().cpu()},
            "identities": list(self.data.identities),
            "scans": [{"file": f, "identity": s.identity, "expression": s.expression}
                      for f, s in zip(self.scan_files(), self.data.scans)],
            "step": self.step,
            "stage": stage_of(max(self.step - 1, 0), self.cfg)[0],
            "train_seconds": self.elapsed,
        }
        out.update(self.learnt_after)
        if with_training_state:
            out.update(
                optimizer=self.optimizer.state_dict(),
                torch_rng=torch.get_rng_state(),
                sampler=self.sampler.state(),
                points_rng=json.dumps(self.points_rng.bit_generator.state),
            )
        return out

    def _restore(self, ck: dict) -> None:
        self.learnt_after = {k: ck[k] for k in AFTER_TRAINING if ck.get(k) is not None}
        self.net.load_state_dict(ck["model_state"])
        with torch.no_grad():
            self.codes.id.weight.copy_(ck["codes"]["id"])
            self.codes.exp.weight.copy_(ck["codes"]["exp"])
            self.codes.det.weight.copy_(ck["codes"]["det"])
        self.optimizer.load_state_dict(ck["optimizer"])
        if self.dist.world == 1:
            torch.set_rng_state(ck["torch_rng"])
            self.sampler.load_state(ck["sampler"])
            self.points_rng.bit_generator.state = json.loads(ck["points_rng"])
        self.step = int(ck["step"])
        self.elapsed = float(ck.get("train_seconds", 0.0))
        self._truncate_metrics(self.step)

    def _truncate_metrics(self, step: int) -> None:
        path = self.out_dir / METRICS_NAME
        if self.dist.main and path.exists():
            keep = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
            path.write_text("".join(line + "\n" for line in keep))

    def save(self) -> None:
        if self.dist.main:
            save_checkpoint(self.out_dir / CHECKPOINT_NAME, self.payload(with_training_state=True))

    # -- the loop -------------------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        stage, w_coarse, w_fine = stage_of(self.step, cfg)
        factor = learning_rate_factor(self.step, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = group["base_lr"] * factor
        scan_ids = self.sampler.next()
        batch = batch_to_tensors(self.data.batch(scan_ids, cfg.surface_points, cfg.free_points, self.points_rng), self.device)
        terms = self.model(batch, fine=stage == 2)
        loss = weighted_total(terms, cfg.weights, w_coarse, w_fine)
        # One device sync per step (not one per term): on a GPU each .item() stalls the queue.
        values = torch.stack([loss.detach()] + [v.detach() for v in terms.values()]).tolist()
        if not math.isfinite(values[0]):
            raise FloatingPointError(f"loss became {values[0]} at step {self.step}; lower the learning rate")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        record = {"step": self.step, "stage": stage, "loss": values[0]}
        record.update(zip(terms.keys(), values[1:]))
        record.update(lr_factor=factor, w_coarse=w_coarse, w_fine=w_fine)
        return record

    def run(self, stop_at_step: int | None = None) -> dict:
        """Train to the end of the schedule (or ``stop_at_step`` / the time limit / Ctrl+C), checkpointing."""
        cfg = self.cfg
        self.out_dir.mkdir(parents=True, exist_ok=True)
        bar = None
        if self.show_progress:
            from tqdm import tqdm

            bar = tqdm(total=cfg.total_steps, initial=self.step, unit="step", desc=f"train {cfg.name}")
        metrics = open(self.out_dir / METRICS_NAME, "a") if self.dist.main else None
        try:
            stopped_early = self._loop(stop_at_step, metrics, bar)
        except KeyboardInterrupt:
            # Ctrl+C: stop after the current step and keep everything (saved below); --resume continues.
            log.warning("interrupted at step %d; saving a checkpoint", self.step)
            stopped_early = True
        finally:
            if bar is not None:
                bar.close()
            if metrics is not None:
                metrics.close()
        self.save()
        if self.dist.main:
            save_checkpoint(self.out_dir / MODEL_NAME, self.payload(with_training_state=False))
            plot_loss_curve(self.out_dir / METRICS_NAME, self.out_dir / CURVE_NAME)
        return {"step": self.step, "finished": not stopped_early and self.step >= cfg.total_steps, "seconds": self.elapsed}

    def _loop(self, stop_at_step: int | None, metrics, bar) -> bool:
        """Step until the schedule ends (False) or a limit stops it early (True)."""
        cfg = self.cfg
        elapsed_before = self.elapsed
        points_per_step = cfg.batch_scans * (cfg.surface_points + cfg.free_points) * self.dist.world

        def on_step(record: dict, since_start: float, step_seconds: float) -> None:
            self.elapsed = elapsed_before + since_start
            record.update(seconds=round(self.elapsed, 2), points_per_s=round(points_per_step / max(step_seconds, 1e-9)))

        return run_steps(
            self.train_step, lambda: self.step, cfg.total_steps, on_step=on_step, log_every=cfg.log_every,
            metrics=metrics, bar=bar,
            postfix=lambda r: {"stage": r["stage"], "loss": f"{r['loss']:.3g}", "sdf_mm": f"{100 * r['sdf']:.3f}"},
            save=self.save, checkpoint_minutes=cfg.checkpoint_minutes, max_seconds=self.max_seconds,
            stop_at=stop_at_step,
        )


def run_steps(step: Callable[[], dict], steps_done: Callable[[], int], total: int, *,
              on_step: Callable[[dict, float, float], None], log_every: int, metrics, bar,
              postfix: Callable[[dict], dict], save: Callable[[], None], checkpoint_minutes: float,
              max_seconds: float | None = None, stop_at: int | None = None) -> bool:
    """The step loop the trainer and the polish share: ``step()`` until ``steps_done()`` reaches ``total``.

    After each step ``on_step(record, seconds since the loop started, seconds of this step)`` updates the
    caller's clock and the record; every ``log_every`` steps (and the last) the record goes to ``metrics`` (a
    JSON line), the progress ``bar`` shows ``postfix(record)``, ``save()`` checkpoints every
    ``checkpoint_minutes``. Returns True when ``max_seconds`` or ``stop_at`` stopped it before ``total``.
    """
    start = last_save = time.monotonic()
    while steps_done() < total:
        t0 = time.monotonic()
        record = step()
        now = time.monotonic()
        on_step(record, now - start, now - t0)
        done = steps_done()
        if metrics is not None and (done % log_every == 0 or done == total):
            metrics.write(json.dumps(record) + "\n")
            metrics.flush()
        if bar is not None:
            bar.update(1)
            bar.set_postfix(**postfix(record))
        if now - last_save > checkpoint_minutes * 60.0:
            save()
            last_save = now
        if (max_seconds is not None and now - start > max_seconds) or done == stop_at:
            return True
    return False


def plot_loss_curve(metrics_path: Path, png_path: Path) -> None:
    """Loss and SDF error against step, stage boundary marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(metrics_path).read_text().splitlines() if line.strip()]
    if not rows:
        return
    steps = [r["step"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    axes[0].semilogy(steps, [r["loss"] for r in rows], lw=0.8)
    axes[0].set(title="total loss", xlabel="step")
    axes[1].semilogy(steps, [100 * r["sdf"] for r in rows], lw=0.8, label="coarse")
    fine = [(r["step"], 100 * r["sdf_fine"]) for r in rows if "sdf_fine" in r]
    if fine:
        axes[1].semilogy(*zip(*fine), lw=0.8, label="fine")
    axes[1].set(title="mean |SDF error| (mm)", xlabel="step")
    axes[1].legend()
    for r0, r1 in zip(rows, rows[1:]):
        if r0["stage"] != r1["stage"]:
            for ax in axes:
                ax.axvline(r1["step"], color="gray", ls="--", lw=0.6)
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
