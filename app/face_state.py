"""The edited face: slider values and the latent codes they stand for (no Qt, no torch at import).

A ``FaceState`` is an immutable value (tuples of floats), so it can be compared, hashed, kept on the
undo stack and written to a session file. A ``FaceSpace`` turns it into ``FaceCodes``::

    z_id  = identity.code(id_coeffs)   + id_residual
    z_exp = expression.code(exp_coeffs) + exp_residual + sum_j exp_mix[j] * (preset_j - neutral)
    z_det = z_det

``identity`` / ``expression`` are the principal directions of the model's code tables
(``imface_core.engine.navigation.CodeSpace``, coefficients in units of sigma); the residuals hold the part
of a picked or fitted code that the shown sliders do not reach, so picking a training identity or fitting a
scan gives exactly its codes while the sliders show its projection.  Named expressions (smile, jaw open,
...) are mean training codes of that label; their sliders add the offset from the neutral expression, so
several of them mix (from -0.5, a little of the opposite, to 2, twice as strong).

Named identity axes ("Face width", "Nose length", ... ``imface_core.engine.identity_axes``) are directions in
the space of the first identity sliders; a named slider shows the state's position along its axis and moving
it moves those identity sliders together (the state itself holds only the identity sliders).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

from app.region_state import RegionState, region_edits

if TYPE_CHECKING:
    from imface_core.engine.identity_axes import IdentityAxis
    from imface_core.face_codes import FaceCodes

__all__ = [
    "FaceSpace",
    "FaceState",
    "MAX_EXPRESSION_SLIDERS",
    "MAX_IDENTITY_SLIDERS",
    "MIX_RANGE",
    "SIGMA_RANGE",
    "DETAIL_RANGE",
]

SIGMA_RANGE = 3.0
"""Principal-direction sliders run over +-3 sigma."""
MIX_RANGE = (-0.5, 2.0)
"""Named-expression sliders: 0 = none of it, 1 = the full training expression, 2 = twice as strong, -0.5 = a
little of the opposite (``imface_core.code_bounds`` accepts the extremes with a wide margin)."""
DETAIL_RANGE = (0.0, 2.0)
"""Detail strength: 0 = the coarse shape, 1 = as trained, 2 = exaggerated."""
_RANGE_SLACK = 1e-6
"""Rounding slack of the slider-range check."""
MAX_IDENTITY_SLIDERS = 10
MAX_EXPRESSION_SLIDERS = 10
EDITED_TOLERANCE = 1e-6
"""z_id farther than this (largest component) from a training person's is shown as "<name> (edited)"."""

_log = logging.getLogger(__name__)


class CodeSpaceLike(Protocol):
    """What ``FaceSpace`` needs of ``imface_core.engine.navigation.CodeSpace``."""

    mean: np.ndarray
    sigma: np.ndarray

    @property
    def num_components(self) -> int: ...

    def code(self, coefficients) -> np.ndarray: ...

    def coefficients(self, code) -> np.ndarray: ...

    def sample(self, rng: np.random.Generator) -> np.ndarray: ...


def _floats(values: Sequence[float] | np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1))


@dataclass(frozen=True)
class FaceState:
    """Everything the sliders and buttons of the editor set (see the module doc)."""

    id_coeffs: tuple[float, ...]
    """Identity sliders, sigma units."""
    id_residual: tuple[float, ...]
    """z_id minus what the identity sliders give (length = z_id size)."""
    exp_coeffs: tuple[float, ...]
    """Expression principal-direction sliders, sigma units."""
    exp_residual: tuple[float, ...]
    exp_mix: tuple[float, ...]
    """Named-expression sliders, in ``FaceSpace.expression_names`` order."""
    z_det: tuple[float, ...]
    detail_scale: float = 1.0
    label: str = "mean face"
    """Where the identity came from (shown in the window): "mean face", a training name, "fit: scan.ply"."""
    regions: tuple[RegionState, ...] = ()
    """Local edits (``app.region_state``), applied in order; sessions before them have none."""

    def with_id_coeff(self, index: int, value: float) -> "FaceState":
        return replace(self, id_coeffs=_set(self.id_coeffs, index, value))

    def with_id_coeffs(self, values: Sequence[float]) -> "FaceState":
        """All identity sliders at once (a named identity axis moves several)."""
        if len(values) != len(self.id_coeffs):
            raise ValueError(f"{len(values)} identity slider values for {len(self.id_coeffs)} sliders")
        return replace(self, id_coeffs=_floats(values))

    def with_exp_coeff(self, index: int, value: float) -> "FaceState":
        return replace(self, exp_coeffs=_set(self.exp_coeffs, index, value))

    def with_mix(self, index: int, value: float) -> "FaceState":
        return replace(self, exp_mix=_set(self.exp_mix, index, value))

    def with_detail_scale(self, value: float) -> "FaceState":
        return replace(self, detail_scale=float(value))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (lists of floats)."""
        out = asdict(self)
        out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
        out["regions"] = [r.to_dict() for r in self.regions]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FaceState":
        """Inverse of ``to_dict``; raises ``ValueError`` naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError(f"face state must be a mapping, got {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                if f.name in ("detail_scale", "label", "regions"):
                    continue
                raise ValueError(f"face state lacks `{f.name}`")
            value = data[f.name]
            if f.name == "regions":
                if not isinstance(value, list):
                    raise ValueError("face state `regions` must be a list of region edits")
                kwargs[f.name] = tuple(RegionState.from_dict(r) for r in value)
            elif f.name == "label":
                kwargs[f.name] = str(value)
            elif f.name == "detail_scale":
                kwargs[f.name] = _finite(value, f.name)
            else:
                if not isinstance(value, (list, tuple)):
                    raise ValueError(f"face state `{f.name}` must be a list of numbers")
                kwargs[f.name] = tuple(_finite(v, f.name) for v in value)
        return cls(**kwargs)


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`{name}` holds a non-number ({value!r})")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"`{name}` holds {v}")
    return v


def _set(values: tuple[float, ...], index: int, value: float) -> tuple[float, ...]:
    if not 0 <= index < len(values):
        raise IndexError(f"slider {index} out of range ({len(values)} sliders)")
    out = list(values)
    out[index] = float(value)
    return tuple(out)


class FaceSpace:
    """Maps ``FaceState`` to codes and back for one model (see the module doc).

    Args:
        identity, expression: principal directions of the z_id and z_exp tables.
        presets: named expression -> z_exp (mean training code of that label), training order.
        det_mean: the mean z_det (start value).
        neutral: the preset that is "no expression" (its name), or None to use the mean z_exp.
        max_identity, max_expression: at most this many principal-direction sliders.
        start_identity: z_id of the start (and "Start face") face, with ``start_label``; None: the mean z_id.
        identity_axes: named identity directions (``imface_core.engine.identity_axes.IdentityAxis``), each
            over at most the first ``max_identity`` identity sliders; the ``steady`` ones (measured to do what
            their name says) become sliders, all stay in ``measured_axes``.
        training_identities: name -> z_id of the training people (the picker's names; a state whose label is
            one of them and whose z_id moved away is "<name> (edited)").
    """

    def __init__(
        self,
        identity: CodeSpaceLike,
        expression: CodeSpaceLike,
        presets: dict[str, np.ndarray],
        det_mean: np.ndarray,
        neutral: str | None = "neutral",
        max_identity: int = MAX_IDENTITY_SLIDERS,
        max_expression: int = MAX_EXPRESSION_SLIDERS,
        start_identity: np.ndarray | None = None,
        start_label: str = "mean face",
        identity_axes: Sequence["IdentityAxis"] = (),
        training_identities: dict[str, np.ndarray] | None = None,
    ):
        self.identity = identity
        self.expression = expression
        self.id_dim = int(np.asarray(identity.mean).shape[0])
        self.exp_dim = int(np.asarray(expression.mean).shape[0])
        self.det_mean = np.asarray(det_mean, dtype=np.float64).reshape(-1)
        self.det_dim = int(self.det_mean.shape[0])
        self.n_identity = min(max_identity, identity.num_components)
        self.n_expression = min(max_expression, expression.num_components)
        if neutral is not None and neutral not in presets:
            neutral = None
        self.neutral_name = neutral
        self.neutral = (np.asarray(presets[neutral], dtype=np.float64) if neutral is not None
                        else np.asarray(expression.mean, dtype=np.float64))
        self.expression_names = [name for name in presets if name != neutral]
        self.presets = {k: np.asarray(v, dtype=np.float64) for k, v in presets.items()}
        self.start_identity = (np.asarray(identity.mean, dtype=np.float64) if start_identity is None
                               else np.asarray(start_identity, dtype=np.float64).reshape(-1))
        self.start_label = start_label
        self.measured_axes = [axis for axis in identity_axes if len(axis.direction) <= self.n_identity]
        self.identity_axes = [axis for axis in self.measured_axes if axis.steady]
        self.training_identities = {k: np.asarray(v, dtype=np.float32).reshape(-1)
                                    for k, v in (training_identities or {}).items()}
        self._deltas = (np.stack([self.presets[n] - self.neutral for n in self.expression_names])
                        if self.expression_names else np.zeros((0, self.exp_dim)))

    @classmethod
    def from_navigator(cls, navigator, **kwargs) -> "FaceSpace":
        """From an ``imface_core.engine.navigation.LatentNavigator``.

        The start face is the training person whose z_id is nearest the mean z_id: the mean code itself
        lies where no training code does (codes scatter around it like a Gaussian cloud around its
        empty centre) and the compact model draws a lumpy face there. The named identity axes are measured
        on the training faces here (``identity_axes``: a quarter of a second for the shipped model's 40
        people; torch is imported, so call this on a worker thread).
        """
        presets = navigator.expression_presets()
        model = navigator.model
        table = np.asarray(model.tables["id"], dtype=np.float64)
        nearest = int(np.argmin(np.linalg.norm(table - table.mean(axis=0), axis=1)))
        kwargs.setdefault("start_identity", table[nearest])
        kwargs.setdefault("start_label", str(model.identities[nearest]))
        kwargs.setdefault("training_identities", dict(zip(map(str, model.identities), table)))
        if "identity_axes" not in kwargs:
            from imface_core.engine.identity_axes import identity_axes

            neutral = presets.get(kwargs.get("neutral", "neutral"), navigator.expression.mean)
            try:
                kwargs["identity_axes"] = identity_axes(model, navigator.identity, neutral,
                                                        kwargs.get("max_identity", MAX_IDENTITY_SLIDERS),
                                                        start=kwargs["start_identity"])
            except (RuntimeError, ValueError, np.linalg.LinAlgError) as exc:  # an optional extra: keep the editor
                _log.warning("no named identity axes for this model: %s", exc)
        return cls(navigator.identity, navigator.expression, presets, model.tables["det"].mean(axis=0), **kwargs)

    # -- codes -------------------------------------------------------------------------------------
    def check_sizes(self, state: FaceState) -> None:
        """Raise ``ValueError`` when ``state`` does not fit this model's sizes."""
        expected = {
            "id_coeffs": self.n_identity, "id_residual": self.id_dim, "exp_coeffs": self.n_expression,
            "exp_residual": self.exp_dim, "exp_mix": len(self.expression_names), "z_det": self.det_dim,
        }
        for name, n in expected.items():
            got = len(getattr(state, name))
            if got != n:
                raise ValueError(f"`{name}` has {got} values; this model needs {n}")

    def check(self, state: FaceState) -> None:
        """Raise ``ValueError`` when ``state`` does not fit this model's sizes or a slider value lies outside
        the range its slider shows (+-``SIGMA_RANGE``, ``MIX_RANGE``, ``DETAIL_RANGE``). The codes themselves
        are checked by the model (``FaceModel.check_codes``)."""
        self.check_sizes(state)
        ranges = {"id_coeffs": (-SIGMA_RANGE, SIGMA_RANGE), "exp_coeffs": (-SIGMA_RANGE, SIGMA_RANGE),
                  "exp_mix": MIX_RANGE, "detail_scale": DETAIL_RANGE}
        checks = [(f"`{name}`", getattr(state, name), bounds) for name, bounds in ranges.items()]
        for r in state.regions:
            if len(r.z_id) not in (0, self.id_dim) or len(r.z_det) not in (0, self.det_dim) \
                    or len(r.exp_mix) not in (0, len(self.expression_names)):
                raise ValueError(f"the {r.region} region edit does not fit this model's code sizes")
            checks += [(f"{r.region} region `id_coeffs`", r.id_coeffs, ranges["id_coeffs"]),
                       (f"{r.region} region `exp_mix`", r.exp_mix, MIX_RANGE)]
        for name, values, (lo, hi) in checks:
            for i, v in enumerate(values if isinstance(values, tuple) else (values,)):
                if not lo - _RANGE_SLACK <= v <= hi + _RANGE_SLACK:  # (NaN fails too)
                    where = f"{name}[{i}]" if isinstance(values, tuple) else name
                    raise ValueError(f"{where} is {v:.6g}, outside its slider's range {lo:g} to {hi:g}")

    def z_id(self, state: FaceState) -> np.ndarray:
        return (self.identity.code(state.id_coeffs) + np.asarray(state.id_residual)).astype(np.float32)

    def z_exp(self, state: FaceState) -> np.ndarray:
        z = self.expression.code(state.exp_coeffs) + np.asarray(state.exp_residual)
        if len(state.exp_mix):
            z = z + np.asarray(state.exp_mix) @ self._deltas
        return np.asarray(z, dtype=np.float32)

    def codes(self, state: FaceState) -> "FaceCodes":
        """The ``FaceCodes`` of ``state``."""
        from imface_core.face_codes import FaceCodes  # numpy only

        z_id = self.z_id(state)
        return FaceCodes(z_id, self.z_exp(state), np.asarray(state.z_det, dtype=np.float32),
                         region_edits(self, state.regions, z_id))

    @property
    def expression_deltas(self) -> np.ndarray:
        """(named expressions, z_exp size): each named expression's offset from the neutral one."""
        return self._deltas

    def _split(self, space: CodeSpaceLike, n: int, z) -> tuple[tuple[float, ...], tuple[float, ...]]:
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        coeffs = np.clip(space.coefficients(z)[:n], -SIGMA_RANGE, SIGMA_RANGE) if n else np.zeros(0)
        coeffs = np.round(coeffs, 2)  # what the sliders can show; the residual keeps the rest exactly
        residual = z - np.asarray(space.code(coeffs), dtype=np.float64)
        return _floats(coeffs), _floats(residual)

    # -- states ------------------------------------------------------------------------------------
    def initial_state(self) -> FaceState:
        """The start identity, neutral expression, mean details, strength 1."""
        state = FaceState((0.0,) * self.n_identity, (0.0,) * self.id_dim, (0.0,) * self.n_expression,
                          (0.0,) * self.exp_dim, (0.0,) * len(self.expression_names), _floats(self.det_mean))
        state = self.with_identity_code(state, self.start_identity, self.start_label)
        return self.with_expression_code(state, self.neutral)

    def state_from_codes(self, codes: "FaceCodes", detail_scale: float = 1.0, label: str = "") -> FaceState:
        """The state whose codes are ``codes`` (sliders show their projections)."""
        state = self.initial_state()
        state = self.with_identity_code(state, codes.z_id, label)
        state = self.with_expression_code(state, codes.z_exp)
        return replace(state, z_det=_floats(codes.z_det), detail_scale=float(detail_scale))

    def with_identity_code(self, state: FaceState, z_id, label: str = "") -> FaceState:
        coeffs, residual = self._split(self.identity, self.n_identity, z_id)
        return replace(state, id_coeffs=coeffs, id_residual=residual, label=label or state.label)

    def with_expression_code(self, state: FaceState, z_exp) -> FaceState:
        """``z_exp`` on the principal-direction sliders; named sliders back to 0."""
        coeffs, residual = self._split(self.expression, self.n_expression, z_exp)
        return replace(state, exp_coeffs=coeffs, exp_residual=residual,
                       exp_mix=(0.0,) * len(self.expression_names))

    def neutral_expression(self, state: FaceState) -> FaceState:
        return self.with_expression_code(state, self.neutral)

    # -- named identity axes and labels ------------------------------------------------------------
    def axis_values(self, id_coeffs: Sequence[float]) -> tuple[float, ...]:
        """Position of identity sliders ``id_coeffs`` along each named axis (units of the training faces'
        spread along it, like the sliders)."""
        c = np.asarray(id_coeffs, dtype=np.float64)
        return tuple(float(axis.direction @ c[: len(axis.direction)]) for axis in self.identity_axes)

    def move_along_axis(self, id_coeffs: Sequence[float], axis: int, value: float) -> tuple[float, ...]:
        """``id_coeffs`` moved along named axis ``axis`` until it reads ``value`` (the identity sliders it
        moves are rounded to what they show and clipped to their range)."""
        direction = np.asarray(self.identity_axes[axis].direction, dtype=np.float64)
        c = np.asarray(id_coeffs, dtype=np.float64).copy()
        k = len(direction)
        c[:k] = c[:k] + (float(value) - self.axis_values(id_coeffs)[axis]) * direction
        return _floats(np.round(np.clip(c, -SIGMA_RANGE, SIGMA_RANGE), 2))

    def identity_label(self, state: FaceState) -> str:
        """``state.label``, with " (edited)" when it names a training person whose z_id the state left."""
        reference = self.training_identities.get(state.label)
        if reference is None or np.max(np.abs(self.z_id(state) - reference)) <= EDITED_TOLERANCE:
            return state.label
        return f"{state.label} (edited)"

    def reset_identity(self, state: FaceState) -> FaceState:
        """The start identity."""
        return self.with_identity_code(state, self.start_identity, self.start_label)

    def random_identity(self, state: FaceState, seed: int) -> FaceState:
        """A random identity: every principal coefficient drawn from N(0, 1) (clipped to the slider range)."""
        rng = np.random.default_rng(seed)
        coeffs = np.clip(rng.standard_normal(self.identity.num_components), -SIGMA_RANGE, SIGMA_RANGE)
        return self.with_identity_code(state, self.identity.code(coeffs), label=f"random face #{seed}")

    def with_detail_code(self, state: FaceState, z_det) -> FaceState:
        z = np.asarray(z_det, dtype=np.float64).reshape(-1)
        if len(z) != self.det_dim:
            raise ValueError(f"z_det has {len(z)} values; this model needs {self.det_dim}")
        return replace(state, z_det=_floats(z))
