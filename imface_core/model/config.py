"""Architecture hyper-parameters of the ImFace++ network (``ModelConfig``).

The config is a plain dataclass so that a checkpoint can store ``to_dict()``
(JSON-safe: ints, floats, strings) and rebuild the same network with
``from_dict()`` without pickling any class.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from typing import Any

logger = logging.getLogger(__name__)

_DEFORMATIONS = ("translation",)


@dataclass
class ModelConfig:
    """Sizes of the latent codes and of the four neural blend fields (E, I, T, RDF)."""

    id_dim: int = 120
    """Size of the identity code z_id; split evenly over the K regions, so divisible by ``num_regions``."""
    exp_dim: int = 120
    """Size of the per-scan expression code z_exp; divisible by ``num_regions``."""
    det_dim: int = 60
    """Size of the per-scan detail code z_det (stage 2); divisible by ``num_regions``."""
    num_regions: int = 5
    """K: number of landmark regions / mini-nets per blend field (eye corners, nose tip, mouth corners)."""

    exp_width: int = 64
    """Hidden width of each expression-field (E) mini-net."""
    exp_depth: int = 3
    """Number of hidden (sine) layers of each expression-field mini-net."""
    id_width: int = 64
    """Hidden width of each identity-field (I) mini-net."""
    id_depth: int = 3
    """Number of hidden (sine) layers of each identity-field mini-net."""
    tmpl_width: int = 64
    """Hidden width of each template-field (T) mini-net."""
    tmpl_depth: int = 3
    """Number of hidden (sine) layers of each template-field mini-net."""
    det_width: int = 64
    """Hidden width of each refinement-displacement-field (RDF) mini-net."""
    det_depth: int = 3
    """Number of hidden (sine) layers of each RDF mini-net."""

    det_first_omega0: float = 30.0
    """First-layer frequency factor of the RDF mini-nets (the other layers use ``omega0``). At 30 the
    first layer's waves are >= ~20 mm long in normalised units (1 = 100 mm), longer than the wrinkles
    (5-12 mm apart), which deeper layers must then make; fitting one scan's detail with 30 and with 120
    (docs/experiments.md, "Wrinkle-field frequency") gave 0.055 and 0.047 mm mean |fine SDF|."""

    det_plane_channels: int = 0
    """Channels C of the RDF's detail plane (``imface_core.model.detail_plane``): learned feature images over
    the template's front that the RDF's blend field weighs with C code-dependent coefficients. 0: no plane,
    the RDF is the blend field alone (the paper's field)."""
    det_plane_mixing: str = "field"
    """How the plane's C channels are weighed: "field" (the RDF's blend field outputs C coefficients per point,
    functions of the template point and z_det) or "code" (a linear map of z_det gives C coefficients per scan,
    the same over the whole face: a linear wrinkle model whose basis images are the plane; with the plane
    started from the training residuals, ``imface_core.training.plane_init``, each training scan starts at its
    own wrinkle maps' projection onto that basis)."""
    det_plane_texel: float = 0.01
    """Texel size of the detail plane in model units (0.01 = 1 mm; the synthetic grooves are 2-3 mm wide)."""
    det_plane_half_width: float = 0.8
    """Half width (x) of the rectangle the detail plane covers, centred on the template's origin (model units)."""
    det_plane_half_height: float = 1.05
    """Half height (y) of the detail plane's rectangle (model units)."""

    mapping_width: int = 128
    """Hidden width of the per-region FiLM mapping nets (code slice -> per-layer frequency and phase).
    Evaluated once per scan, not per point, so it costs almost nothing at inference."""
    omega0: float = 30.0
    """SIREN frequency factor: hidden layers compute sin(omega0 * (W h + b))."""
    fusion_width: int = 64
    """Hidden width of each field's fusion net (absolute x -> K blend weights). The paper uses 128;
    64 is about 3x cheaper on a CPU and the fusion net only has to produce smooth weights."""
    landmark_net_width: int = 256
    """Hidden width of the landmark nets P_exp and P_id."""
    deformation: str = "translation"
    """Deformation type of E and I. Only "translation" (3 outputs) is implemented; "se3" is not."""
    detail_max: float = 0.05
    """Largest RDF displacement in model units (0.05 = 5 mm): d = detail_max * tanh(r) * fade."""
    detail_fade: float = 0.02
    """SDF distance scale of the RDF fade-out: fade = 1 / (1 + (s / detail_fade)^4)."""
    code_scale: float = 1.0
    """Every latent code is multiplied by this before the FiLM mapping and landmark nets see it.
    Auto-decoder codes start at ~N(0, 0.01^2) and are kept small by their regulariser; scaled by 1
    they move gamma/beta by ~1e-3 and the fields barely depend on them (the first compact model's
    expression field collapsed to ~0.02 mm). A scale of ~1/code_init_std makes the codes O(1) inputs."""

    def __post_init__(self) -> None:
        k = self.num_regions
        if k < 1:
            raise ValueError(f"num_regions must be >= 1, got {k}")
        for name in ("id_dim", "exp_dim", "det_dim"):
            value = getattr(self, name)
            if value < k or value % k:
                raise ValueError(f"{name}={value} must be a positive multiple of num_regions={k}")
        for name in ("exp", "id", "tmpl", "det"):
            width, depth = getattr(self, f"{name}_width"), getattr(self, f"{name}_depth")
            if width < 1 or depth < 1:
                raise ValueError(f"{name}_width and {name}_depth must be >= 1, got {width} and {depth}")
        if self.deformation not in _DEFORMATIONS:
            raise ValueError(f"deformation={self.deformation!r} is not supported; choose from {_DEFORMATIONS}")
        if self.code_scale <= 0:
            raise ValueError(f"code_scale must be > 0, got {self.code_scale}")
        if not self.det_first_omega0 > 0:
            raise ValueError(f"det_first_omega0 must be above 0, got {self.det_first_omega0}")
        if self.det_plane_channels < 0:
            raise ValueError(f"det_plane_channels must be 0 (no plane) or more, got {self.det_plane_channels}")
        if self.det_plane_mixing not in ("field", "code"):
            raise ValueError(f"det_plane_mixing must be 'field' or 'code', got {self.det_plane_mixing!r}")
        for name in ("det_plane_texel", "det_plane_half_width", "det_plane_half_height"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.detail_fade <= 0:
            raise ValueError(f"detail_fade must be > 0, got {self.detail_fade}")

    def to_dict(self) -> dict[str, Any]:
        """All fields as a JSON-safe dict (what a checkpoint stores)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], strict: bool = True) -> ModelConfig:
        """Rebuild a config from ``to_dict()`` output; missing keys take their defaults.

        Unknown keys raise ``ValueError`` naming them when ``strict`` (the default):
        a key this version does not know could change the architecture, so loading
        weights into a silently different network is worse than failing. With
        ``strict=False`` unknown keys are logged and ignored.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            if strict:
                raise ValueError(f"unknown ModelConfig keys: {unknown}")
            logger.warning("ignoring unknown ModelConfig keys: %s", unknown)
        return cls(**{k: v for k, v in d.items() if k in known})
