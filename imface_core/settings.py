"""Settings of the commands: the fit (``FitSettings``, ``AlignSettings``), the wrinkle-field polish
(``PolishSettings``), data preparation (``PrepSettings``), the engine benchmark (``BenchSettings``), the evaluation (``EvalSettings``), synthetic scans (``SynthSettings``), the face region (``RegionSettings``), ...: plain dataclasses, torch-free, so that the command
line is made from them (``imface_core.commands.settings``) without loading the model's libraries. Each field's
default, its docstring (the command's help) and the checks in ``__post_init__`` are the only place they are
written.
"""

from __future__ import annotations

import math
import numbers

from dataclasses import dataclass
from typing import Literal

__all__ = ["AlignSettings", "FitSettings", "FitOutputSettings", "POLISH_PRESETS", "PolishSettings", "PrepSettings",
           "BenchSettings", "EvalSettings", "SynthSettings", "RegionSettings", "GenerateSettings", "ThreadSettings",
           "RESOLUTION_RANGE", "TOPOLOGIES", "check_mesh_resolution"]

RESOLUTION_RANGE = (8, 1024)
"""Grid resolutions a face mesh accepts (N samples per axis): below 8 there is no face, above 1024 no memory."""
TOPOLOGIES = ("marching_cubes", "template")
"""A face mesh's topology: its own marching-cubes mesh per face, or the model's template mesh carried onto it."""
Topology = Literal["marching_cubes", "template"]


def check_mesh_resolution(resolution, what: str = "the mesh resolution") -> int:
    """``resolution`` as an int, or ``ValueError`` when it is not a whole number in ``RESOLUTION_RANGE``."""
    lo, hi = RESOLUTION_RANGE
    whole = isinstance(resolution, numbers.Integral) and not isinstance(resolution, bool)  # (numpy's too)
    if not whole or not lo <= resolution <= hi:
        raise ValueError(f"{what} must be a whole number from {lo} to {hi} (grid samples per axis), "
                         f"got {resolution!r}")
    return int(resolution)


@dataclass(frozen=True)
class FitSettings:
    """Optimisation settings of ``fit_codes``."""

    steps: int = 200
    """Total optimisation steps (all phases)."""
    stage1_fraction: float = 0.6
    """Share of the steps spent on z_id / z_exp with the coarse terms."""
    handover_fraction: float = 0.1
    """Share of the stage-2 steps over which the coarse terms hand over to the fine ones."""
    lr: float = 0.25
    """Adam learning rate of each code, in units of the RMS of that code's training table."""
    lr_final_fraction: float = 0.1
    """The learning rate of each phase decays (cosine) to this fraction."""
    surface_points: int = 1536
    """Surface points per step (2048 cost a third more per step and fitted the six FaceFuns scans no closer, one
    run each)."""
    free_points: int = 512
    """Free-space points per step."""
    gradient_points: int = 256
    """Surface points per step that also get the normal and eikonal terms (stage 1)."""
    first_batch_fraction: float = 1.0
    """Coarse to fine: the first stage-1 step uses this share of the surface, free and gradient points per step,
    growing evenly to all of them by the last stage-1 step (0.25 made stage 1 about a third cheaper, but the
    test model's own face came out 0.41 mm from it instead of 0.35)."""
    detail_pool: int = 24_000
    """Points whose coarse pass is cached for the detail phase."""
    normal_weight: float | None = None
    """Normal term weight; None takes the training weight."""
    eikonal_weight: float | None = None
    """Eikonal terms weight; None takes the training weight."""
    code_reg_scale: float = 1.0
    """Multiplies the training weights of the code regularisation."""
    landmark_weight: float = 1000.0
    """L1 between the landmark net's 5 landmarks and the scan's (only when landmarks are given)."""
    landmark_correspondence_weight: float = 1000.0
    """L1 between the scan's 68 landmarks warped to template space and the template's 68 (only when 68 are given):
    the training's landmark consistency in the fit, so that the correspondence follows the landmarks."""
    correspondence_landmarks: tuple[int, ...] | None = None
    """Which of the 68 that term uses (None: all); ``benchmarks/eval_correspondence.py --hold-out`` measures on
    the others."""
    coarse_floor: float | None = None
    """Coarse-term weight kept after the hand-over; None takes the training value."""
    optimise_pose: bool = True
    """Refine a rigid pose of the scan together with the codes in stage 1. The alignment matched the
    *mean* face, so it is off by however this person differs from it; the codes' regularisation
    then leaves the rigid part of that difference to the pose."""
    lr_pose_rotation: float = 2e-3
    """Adam learning rate of the pose's rotation vector (radians)."""
    lr_pose_translation: float = 1e-3
    """Adam learning rate of the pose's translation (normalised units: 0.1 mm)."""
    seed: int = 0
    """Seed of the point sampling (and of the alignment's search); a fit is deterministic for a seed."""

    def __post_init__(self) -> None:
        for name in ("steps", "surface_points", "free_points", "gradient_points", "detail_pool"):
            if getattr(self, name) < 1:
                raise ValueError(f"fit: {name} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.first_batch_fraction <= 1:
            raise ValueError(f"fit: first_batch_fraction must be above 0 and at most 1, got {self.first_batch_fraction}")
        for name in ("stage1_fraction", "handover_fraction", "lr_final_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"fit: {name} must be between 0 and 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"fit: lr must be positive, got {self.lr}")


@dataclass(frozen=True)
class FitOutputSettings:
    """The mesh ``imface fit`` writes of the fitted face."""

    resolution: int | None = None
    """Grid resolution of the fitted mesh (unset: 128 for marching cubes, as ``imface eval`` and the editor; for
    template, the template mesh's own 128, as ``imface generate --topology template``)."""
    topology: Topology = "marching_cubes"
    """marching_cubes: the fitted face's own mesh, cut to the scan's footprint; template: the model's template
    mesh carried onto the fitted face (the same vertex count and order for every fit with this model)."""

    def __post_init__(self) -> None:
        if self.resolution is not None:
            check_mesh_resolution(self.resolution, "--resolution")

    @property
    def marching_cubes_resolution(self) -> int:
        """The resolution of a marching-cubes fitted mesh."""
        return 128 if self.resolution is None else self.resolution


@dataclass(frozen=True)
class ThreadSettings:
    """How many CPU threads torch uses (``imface fit``, ``imface eval``)."""

    threads: int = 0
    """Torch CPU threads; 0 leaves torch's default, every core (``benchmarks/bench_fit.py``, f18 on a quiet 2-core
    CPU: 14.0 s with two threads against 18.9 s with one)."""

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise ValueError(f"--threads must be 0 or more, got {self.threads}")


@dataclass(frozen=True)
class AlignSettings:
    """How ``align_scan`` searches."""

    reference_points: int = 1500
    """Points of the mean face used per ICP iteration."""
    coarse_iterations: int = 6
    """Point-to-plane ICP iterations per starting pose in the search (after 2 point-to-point ones)."""
    fine_iterations: int = 40
    """Most point-to-point ICP iterations for the best few starts (then 8 point-to-plane ones)."""
    converged_mm: float = 0.001
    """Those point-to-point iterations stop once one brings the mean face less than this much (mm) closer to the
    scan: it has converged, and the point-to-plane steps finish it."""
    keep_starts: int = 3
    """Best start poses per nose candidate that get a finer ICP; the best of them is refined to the end."""
    trim: float = 0.8
    """Share of correspondences kept (the closest) in each ICP step."""
    orientation: Literal["any", "frontal"] = "any"
    """Start poses of the search without landmarks: ``any`` from each nose-tip candidate's normal (every
    orientation); ``frontal`` yaws and pitches around upright (faster)."""
    allow_scale: bool = False
    """Estimate a global scale as well (similarity); off: the scan's millimetres are trusted."""
    inlier_mm: float = 4.0
    """A mean-face point is matched when the scan surface is this close after alignment."""
    confident_inliers: float = 0.85
    """The search stops at the first nose candidate whose alignment has this many inliers ..."""
    confident_nose_mm: float = 3.0
    """... and whose nose region lies this close to the scan."""
    min_inlier_fraction: float = 0.65
    """Fewer matched mean-face points than this and the scan is not taken for a face."""
    min_inlier_fraction_landmarks: float = 0.4
    """The same with landmarks, which already fix the pose and (their spread) the units: a strong expression
    moves much of a face away from the neutral mean face (a synthetic smile of a new person: 62 %)."""
    max_nose_mm: float = 8.0
    """The mean face's nose region must lie this close to the scan (rejects spheres and boxes)."""
    seed: int = 0


@dataclass
class PolishSettings:
    """How ``imface polish`` (``training.detail_polish.DetailPolisher``) trains a run's wrinkle field."""

    steps: int = 6000
    """Polish steps in all (a stopped polish goes on from where it stopped)."""
    batch_scans: int = 64
    """Scans per step."""
    points: int = 1024
    """Cached surface points of each scan drawn per step."""
    cache_points: int = 6144
    """Fixed surface points per scan whose coarse quantities are cached."""
    lr_net: float = 5e-4
    """Learning rate of the wrinkle field."""
    lr_codes: float = 1e-3
    """Learning rate of the detail codes (0 keeps them as they started)."""
    lr_final_fraction: float = 0.1
    warmup_steps: int = 200
    """Linear learning-rate warm-up: a fresh Adam at the full rate first pulls the trained field off
    (one run through this class on v3 without it, 30 steps, 512 cached points per scan, 16 check scans:
    exact fine error 0.149 -> 0.166 mm)."""
    seed: int = 0
    checkpoint_minutes: float = 5.0
    log_every: int = 20
    near_surface_mm: float = 1.5
    """Half of the cached points are moved off the surface along its normal by up to this much (uniform in
    +-near_surface_mm, SDF target = the offset), so that the field is also fitted just off the surface, where
    the fast mesh path (``imface_core.engine.displacement``) reads it (docs/experiments.md, "Polishing the wrinkle field", on three faces: 757 / 10 / 1,340
    specks after 2,000 steps with 1.5 mm, 3,484 / 793 / 5,483 after 6,000 without); 0: surface points only."""
    check_scans: int = 40
    """Scans whose exact fine SDF error is measured before and after."""
    fresh_field: bool = False
    """Start from a new RDF and z_det (``Trainer.replace_detail_field``) instead of the run's."""
    plane_channels: int | None = None
    """With ``fresh_field``: channels of the new field's detail plane (None: as the run's; 0: no plane)."""
    person_code_std: float = 0.0
    """With ``fresh_field``: spread of the z_det part shared by a person's scans (0: none)."""
    plane_init: Literal["zero", "residuals"] = "zero"
    """How a fresh field's detail plane starts: "zero" (features at zero, trained at ``lr_net`` x the run's
    ``lr_plane_scale``) or "residuals" (the fine patterns of the training scans' coarse residuals,
    ``imface_core.training.plane_init``, trained at ``lr_net``)."""
    residual_points: int = 40000
    """With ``plane_init="residuals"``: different surface points per scan splatted into the residual maps (at most
    what the run keeps of each scan in memory, ``TrainConfig.max_surface_points_in_memory``)."""
    plane_smooth_texels: float = 0.7
    """With ``plane_init="residuals"``: Gaussian smoothing of the residual maps (texels); less keeps more of the
    2 mm grooves but needs more ``residual_points`` (``plane_init.fine_basis``)."""
    plane_lr_scale: float | None = None
    """The detail plane's learning rate (features and code mix) as a multiple of ``lr_net``; None: 1 for a plane
    started from residuals, the run's ``lr_plane_scale`` otherwise; 0 keeps the plane as it started. With
    ``lr_codes`` = 0 as well, a code-mixed plane from residuals keeps every training scan's wrinkles exactly as
    projected and the polish trains only the wrinkle field's network (the smooth band): on a 2-core CPU the
    detail codes otherwise shrink within 60 steps (the fine eikonal term and the code prior both pull them
    towards 0) and the forehead lines fade (``benchmarks/detail_residual.py``)."""
    plane_bands: int = 1
    """With ``plane_init="residuals"``: horizontal bands of the face that get their own share of the channels
    (``plane_init.fine_basis``)."""
    code_dim: int | None = None
    """With ``fresh_field``: size of the new detail codes z_det (a multiple of the region count; None: as the
    run's). A code-mixed plane started from residuals reproduces each scan's projection onto at most this many
    directions, so give it as many as the plane has channels."""
    plane_mixing: Literal["field", "code"] | None = None
    """With ``fresh_field``: how the new plane's channels are weighed, "field" or "code"
    (``ModelConfig.det_plane_mixing``; None: as the run's). Code mixing started from residuals gives every
    training scan its projected wrinkle maps before the first step."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_scans", "points", "cache_points"):
            if getattr(self, name) < 1:
                raise ValueError(f"detail polish: {name} must be at least 1, got {getattr(self, name)}")
        if (self.plane_channels is not None or self.person_code_std or self.plane_mixing is not None
                or self.code_dim is not None) and not self.fresh_field:
            raise ValueError("detail polish: plane_channels, plane_mixing, code_dim and person_code_std apply to a "
                             "fresh field only")
        if self.plane_mixing not in (None, "field", "code"):
            raise ValueError(f"detail polish: plane_mixing must be 'field' or 'code', got {self.plane_mixing!r}")
        if self.plane_init not in ("zero", "residuals"):
            raise ValueError(f"detail polish: plane_init must be 'zero' or 'residuals', got {self.plane_init!r}")
        if self.plane_init == "residuals" and not self.fresh_field:
            raise ValueError("detail polish: a plane started from residuals needs a fresh field")
        if self.plane_bands < 1:
            raise ValueError(f"detail polish: plane_bands must be at least 1, got {self.plane_bands}")
        if not self.lr_net > 0 or not self.lr_codes >= 0:
            raise ValueError(f"detail polish: lr_net must be positive and lr_codes 0 (fixed codes) or more, got "
                             f"{self.lr_net} and {self.lr_codes}")
        if not self.plane_smooth_texels >= 0:
            raise ValueError(f"detail polish: plane_smooth_texels must be 0 or more, got {self.plane_smooth_texels}")
        if self.plane_lr_scale is not None and not self.plane_lr_scale >= 0:
            raise ValueError(f"detail polish: plane_lr_scale must be 0 or more, got {self.plane_lr_scale}")
        if self.residual_points < 1:
            raise ValueError(f"detail polish: residual_points must be at least 1, got {self.residual_points}")
        if self.plane_channels is not None and self.plane_channels < 0:
            raise ValueError(f"detail polish: plane_channels must be 0 or more, got {self.plane_channels}")
        if not self.near_surface_mm >= 0:
            raise ValueError(f"detail polish: near_surface_mm must be 0 or more, got {self.near_surface_mm}")
        if self.warmup_steps < 0 or not self.person_code_std >= 0:
            raise ValueError(f"detail polish: warmup_steps and person_code_std must be 0 or more, got "
                             f"{self.warmup_steps} and {self.person_code_std}")
        if self.code_dim is not None and self.code_dim < 1:
            raise ValueError(f"detail polish: code_dim must be at least 1, got {self.code_dim}")


POLISH_PRESETS = {
    "v5": PolishSettings(steps=2000, batch_scans=800, points=128, lr_net=1e-3, lr_codes=0.0, warmup_steps=20,
                         fresh_field=True, plane_channels=200, code_dim=200, plane_init="residuals",
                         plane_mixing="code", person_code_std=0.01, residual_points=100_000,
                         plane_smooth_texels=0.35, plane_lr_scale=0.0),
}
"""Named polish recipes: ``v5`` made the shipped model's wrinkle field (resources/MODEL_CARD.md)."""


@dataclass(frozen=True)
class PrepSettings:
    """How ``imface prep`` (``imface_core.data.prep``) turns a raw scan into training samples."""

    surface_points: int = 235_000
    """Surface points (with normals) sampled per scan."""
    free_points: int = 15_000
    """Free-space points (with SDF and gradient) sampled per scan."""
    near_fraction: float = 0.35
    """Share of the free-space points jittered around the surface (the others uniform in the unit ball)."""
    seed: int = 0
    """Seed of the sampling (each scan's own seed is drawn from it and the scan's name)."""
    write_mesh: bool = True
    """Write the pseudo-watertight .ply beside each npz (training does not read it; evaluation and fitting do)."""

    def __post_init__(self) -> None:
        for name in ("surface_points", "free_points"):
            if getattr(self, name) < 1:
                raise ValueError(f"prep: {name} must be at least 1, got {getattr(self, name)}")
        if not 0 <= self.near_fraction <= 1:
            raise ValueError(f"prep: near_fraction must be between 0 and 1, got {self.near_fraction}")


@dataclass
class BenchSettings:
    """What ``imface bench`` (``imface_core.engine.benchmark.run_benchmark``) measures."""

    resolution: int = 256
    """Resolution of ``model.mesh`` (and of the baseline unless ``baseline_resolution`` is set)."""
    baseline_resolution: int | None = None
    """Resolution of the dense baseline (None: same as ``resolution``; a lower one is scaled by (N/Nb)^3; 0: skip
    the baseline)."""
    repeats: int = 3
    """Timed repetitions of ``model.mesh`` (median reported); previews run ``repeats`` x 2 slider steps."""
    preview_stride: int = 4
    """Preview level of the progressive mesher (256 / 4: a 64-cell preview)."""
    slider_step: float = 0.25
    """Size of one slider step, in sigma of the first expression principal direction."""
    chamfer_samples: int = 50_000
    """Surface samples of each mesh for the Chamfer distances."""
    identity: int = 0
    expression: int = 0

    def __post_init__(self) -> None:
        for name in ("resolution", "repeats", "preview_stride", "chamfer_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"bench: {name} must be at least 1, got {getattr(self, name)}")
        if self.baseline_resolution is not None and self.baseline_resolution < 0:
            raise ValueError(f"bench: baseline_resolution must be 0 (no baseline) or more, got "
                             f"{self.baseline_resolution}")


@dataclass(frozen=True)
class EvalSettings:
    """What ``imface eval`` (``imface_core.evaluation.runner.run_eval``) fits and where it writes."""

    data_dir: str | None = None
    """Prepared held-out scans (DATA/<identity>/<k>_<expression>.npz + .ply); unset: none."""
    out_dir: str = "eval_out"
    """Output folder (results.jsonl, table.md, summary.json, eval_settings.json)."""
    raw_dir: str | None = None
    """Fit the raw scans of this folder (same names) through the full user path (alignment without landmarks)
    instead of the prepared samples."""
    train_raw_dir: str | None = None
    """Raw training scans for the PCA baseline (unset: DATA_DIR/../raw_train when it exists)."""
    limit: int | None = None
    """Evaluate only this many held-out scans, taken in round-robin order (every expression before any repeats;
    unset or 0: all)."""
    steps: int | None = None
    """Fitting steps per scan (unset: the fit's own, ``imface fit --steps``)."""
    resolution: int = 128
    """Mesh resolution of the reconstructions."""
    seed: int = 0
    """Seed of the fits, of the points sampled from each scan and of the MakeHuman faces."""
    makehuman: int = 4
    """Cross-dataset MakeHuman faces, fitted without landmarks (0: none)."""
    makehuman_path: str | None = None
    """mh_face_targets.npz of the MakeHuman faces (unset: ../shared/data/makehuman/mh_face_targets.npz)."""
    real_dir: str | None = None
    """Real scans (every mesh file of this folder, in mm, e.g. ../shared/data/facefuns), fitted without landmarks
    and scored against their own frontal surface, overall and per face region."""
    pca: bool = True
    """Fit the linear PCA baseline too (as many identity + expression parameters, built from the raw training
    scans)."""

    def __post_init__(self) -> None:
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"eval: steps must be at least 1, got {self.steps}")
        check_mesh_resolution(self.resolution, "eval: resolution")
        for name in ("limit", "makehuman"):
            if (getattr(self, name) or 0) < 0:
                raise ValueError(f"eval: {name} must be 0 or more, got {getattr(self, name)}")
        if not (self.data_dir or self.real_dir or self.makehuman):
            raise ValueError("eval: nothing to evaluate: give held-out scans (--data), real scans (--real) or "
                             "MakeHuman faces (--makehuman N)")


@dataclass(frozen=True)
class SynthSettings:
    """How many synthetic scans ``imface synth`` (``imface_core.data.synth.synthesize``) draws, and how."""

    identities: int = 40
    """People to draw."""
    expressions: int = 20
    """The first M named expressions of each person (``imface_core.data.expressions``)."""
    seed: int = 0
    """Different seeds give different people."""
    sigma: float = 1.0
    """Standard deviation of the identity coefficients."""

    def __post_init__(self) -> None:
        for name in ("identities", "expressions"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not self.sigma >= 0:
            raise ValueError(f"--sigma must be 0 or more, got {self.sigma}")


@dataclass(frozen=True)
class RegionSettings:
    """How ``imface region`` (``imface_core.training.face_region.learn_face_region``) learns a face region."""

    scans: int | None = None
    """Use at most this many training scans (unset: all)."""

    def __post_init__(self) -> None:
        if self.scans is not None and self.scans < 1:
            raise ValueError(f"region: scans must be at least 1, got {self.scans}")


@dataclass(frozen=True)
class GenerateSettings:
    """What ``imface generate`` makes of the face it is given."""

    detail_scale: float = 1.0
    """Detail strength (0 = the coarse shape)."""
    resolution: int | None = None
    """Grid samples per axis over [-1, 1] (unset: FaceModel.mesh's own, or the template mesh's with
    --topology template)."""
    topology: Topology = "marching_cubes"
    """marching_cubes: this face's own mesh; template: the model's template mesh carried onto the face (the same
    vertex count and order for every face of the model)."""
    method: Literal["exact", "displace"] = "exact"
    """exact: fine-SDF marching cubes; displace: coarse surface + detail displacement (faster)."""
    colors: Literal["none", "correspondence"] = "none"
    """Vertex colours: correspondence = template coordinates as RGB."""
    whole_surface: bool = False
    """Keep the whole surface in the box instead of cutting it to the model's face region."""
    units: Literal["mm", "normalised"] = "mm"
    """mm (normalised x 100, nose tip at z = 40 mm) or normalised model units."""

    def __post_init__(self) -> None:
        if self.resolution is not None:
            check_mesh_resolution(self.resolution, "--resolution")
        if not math.isfinite(self.detail_scale):
            raise ValueError(f"--detail-scale must be a finite number, got {self.detail_scale}")
