"""Training configurations (``tiny``, ``compact``, ``scale``, ``paper``) as dataclasses saved in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from imface_core.model.config import ModelConfig
from imface_core.model.objective import LossWeights


@dataclass
class TrainConfig:
    """Everything a training run needs besides the data path."""

    name: str = "compact"
    model: ModelConfig = field(default_factory=ModelConfig)
    weights: LossWeights = field(default_factory=LossWeights)
    stage1_steps: int = 6000
    """Steps of stage 1 (coarse fields and codes)."""
    stage2_steps: int = 3000
    """Steps of stage 2 (refinement field and z_det added)."""
    handover_fraction: float = 0.3
    """Share of stage 2 over which loss weight moves from the coarse to the fine terms (cosine)."""
    coarse_floor: float = 0.2
    """Weight the coarse SDF terms keep after the hand-over (keeps stage 1 usable on its own)."""
    batch_scans: int = 8
    """Scans per step (per process under torchrun)."""
    surface_points: int = 1024
    """Surface points per scan per step."""
    free_points: int = 512
    """Free-space points per scan per step."""
    max_surface_points_in_memory: int = 100_000
    """Surface points kept per scan when loading the data set (a random subset of ~235k)."""
    lr_net: float = 5e-4
    lr_codes: float = 1e-3
    """Adam step of the code tables. The networks see ``code * model.code_scale``, and a scan's code is
    visited every ~50 steps (Adam's momentum then carries it ~10 steps): with code_scale 100 a rate of
    1e-3 moved z_exp by ~1 (scaled) per visit and the landmark net P_exp diverged; at 1e-4 the codes of
    one expression had not gathered after 1,500 steps (same-expression distance 0.95 x the others'), so
    compact uses 3e-4 (the shipped model ends at 0.85: docs/experiments.md, "Expression field")."""
    lr_plane_scale: float = 10.0
    """The RDF's detail plane (``ModelConfig.det_plane_channels``) trains at ``lr_net`` times this: each texel
    only sees the points near it, where a network weight sees every point."""
    lr_final_fraction: float = 0.1
    """Learning rates decay (cosine) to this fraction at the last step."""
    lr_restart_step: int = 0
    """Step at which a lengthened run (``continued``) restarted the cosine; 0: one cosine from step 0."""
    lr_restart_peak: float = 1.0
    """Learning-rate factor the restarted cosine starts from."""
    code_init_std: float = 0.01
    landmark_anchor_gradients: bool = True
    """Let the geometry terms move the predicted landmarks that anchor the blend fields (the paper's joint
    training; the shipped v1-v5 models were trained so). False (the ``scale`` preset): P_exp and P_id learn from
    the landmark terms only (``TrainingObjective``: why). On 12 scans (``tiny``) joint training gives the more
    consistent template coordinates, so the small presets keep it."""
    log_every: int = 10
    checkpoint_minutes: float = 5.0
    seed: int = 0
    """Seed of the networks' and codes' initialisation and of the scan and point sampling."""

    def __post_init__(self) -> None:
        for name in ("stage1_steps", "stage2_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        for name in ("batch_scans", "surface_points", "free_points"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def total_steps(self) -> int:
        return self.stage1_steps + self.stage2_steps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        model = ModelConfig.from_dict(d.pop("model", {}))
        known_w = {f.name for f in fields(LossWeights)}
        weights = LossWeights(**{k: v for k, v in d.pop("weights", {}).items() if k in known_w})
        known = {f.name for f in fields(cls)} - {"model", "weights"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown training config keys: {unknown}")
        return cls(model=model, weights=weights, **d)


CODE_SCALE = 100.0
"""``ModelConfig.code_scale`` of every preset: 1 / code_init_std, so that the codes reach the FiLM
mapping nets as O(1) inputs."""


PRESETS = ("tiny", "compact", "scale", "paper")
"""The names ``preset`` knows (``imface train --config``)."""


def preset(name: str) -> TrainConfig:
    """A named configuration: ``tiny`` (tests, ~1 min), ``compact`` (shipped, 2-core CPU: 40 people x 20
    expressions), ``scale`` (the compact networks for ~300 people x 12 expressions, over several CPU runs or a
    GPU), ``paper`` (GPU)."""
    if name == "tiny":
        return TrainConfig(
            name="tiny",
            model=ModelConfig(
                id_dim=20, exp_dim=20, det_dim=10, exp_width=16, id_width=16, tmpl_width=24, det_width=16,
                exp_depth=2, id_depth=2, tmpl_depth=2, det_depth=2, mapping_width=32, fusion_width=16,
                landmark_net_width=32, code_scale=CODE_SCALE,
            ),
            stage1_steps=150, stage2_steps=50, batch_scans=4, surface_points=256, free_points=128,
            max_surface_points_in_memory=20_000, lr_net=2e-3, lr_codes=2e-3, log_every=5, checkpoint_minutes=1.0,
        )
    if name == "compact":
        return TrainConfig(
            name="compact",
            stage1_steps=4500, stage2_steps=1500, batch_scans=16, surface_points=512, free_points=256,
            lr_codes=3e-4,
            model=ModelConfig(
                id_dim=80, exp_dim=80, det_dim=40, exp_width=48, id_width=48, tmpl_width=64, det_width=48,
                exp_depth=3, id_depth=3, tmpl_depth=3, det_depth=3, mapping_width=96, fusion_width=64,
                landmark_net_width=128, code_scale=CODE_SCALE,
            ),
        )
    if name == "scale":
        # The compact networks (the editor's speed is that of the network it evaluates), sized for 3,600 scans:
        # every scan's codes visited as often as in the shipped model's run (4,400 steps x 16 scans over 800
        # scans: 88 visits; 20,000 x 16 over 3,600), stage 1 and 2 in the same 3:1 ratio. 30,000 surface points
        # per scan in memory (3,600 scans: ~3.5 GB as float32): a scan's ~45,000 draws over the whole run
        # (88 visits x 512 points) then see each kept point about 1.5 times.
        cfg = preset("compact")
        cfg.name = "scale"
        cfg.stage1_steps, cfg.stage2_steps = 15_000, 5_000
        cfg.max_surface_points_in_memory = 30_000
        cfg.landmark_anchor_gradients = False  # P_exp's landmarks walked away in the joint 3,600-scan run
        return cfg
    if name == "paper":
        return TrainConfig(
            name="paper",
            model=ModelConfig(
                id_dim=130, exp_dim=130, det_dim=65, exp_width=128, id_width=128, tmpl_width=128, det_width=128,
                mapping_width=256, fusion_width=128, landmark_net_width=256, code_scale=CODE_SCALE,
            ),
            weights=LossWeights(code_id=1e6, code_exp=1e6),
            stage1_steps=200_000, stage2_steps=100_000, batch_scans=16, surface_points=12_000, free_points=4_000,
            max_surface_points_in_memory=235_000, lr_net=1e-4, lr_codes=1e-4,
        )
    raise ValueError(f"unknown config `{name}`: choose {', '.join(PRESETS[:-1])} or {PRESETS[-1]}")


CONTINUABLE = ("stage2_steps", "batch_scans", "surface_points", "free_points", "checkpoint_minutes")
"""Settings a resumed run may change (``imface train --resume --stage2-steps ...``)."""


def continued(cfg: TrainConfig, step: int, lr_peak: float = 0.3, **overrides: Any) -> TrainConfig:
    """The saved config of a run at ``step`` with a longer stage 2 or other batch sizes (None values ignored).

    The hand-over from the coarse to the fine terms keeps its length in steps, so the loss weights go on
    where they were. A longer run restarts the learning-rate cosine at ``step`` from ``lr_peak`` (stretching
    the old cosine instead jumped the rate ~10x at once and threw the SDF error from 0.3 to 1.6 mm).
    Raises ValueError for a setting that cannot change on resume or a stage 2 that would end before ``step``.
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    fixed = sorted(set(overrides) - set(CONTINUABLE))
    if fixed:
        raise ValueError(f"a resumed run cannot change {fixed}; only {list(CONTINUABLE)}")
    new_stage2 = overrides.get("stage2_steps", cfg.stage2_steps)
    if cfg.stage1_steps + new_stage2 < step:
        raise ValueError(f"--stage2-steps {new_stage2} would end the run before its current step {step}")
    handover_steps = cfg.handover_fraction * cfg.stage2_steps
    out = replace(cfg, **overrides)
    out.handover_fraction = min(1.0, handover_steps / max(1, new_stage2))
    if new_stage2 != cfg.stage2_steps:
        out.lr_restart_step, out.lr_restart_peak = step, lr_peak
    return out


def with_overrides(cfg: TrainConfig, **overrides: Any) -> TrainConfig:
    """A copy of ``cfg`` with top-level fields replaced (None values ignored)."""
    return replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
