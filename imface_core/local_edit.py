"""Local edits (numpy only, no torch at import): the face regions (eyes, nose, mouth, cheeks/jaw, forehead) and
the smooth masks that blend another face's SDF into one region.

A region is a group of the template's 68 landmarks (iBUG numbering; the forehead is the brows lifted 25 mm).
Its mask lives in template space, so it sits on the same part of every face and expression: 1 within
``inner`` of the group's landmarks, 0 beyond ``outer``, a quintic smoothstep (continuous slope and curvature)
of a smooth distance (``region_weight``) between. ``FaceField`` evaluates the face and the region's codes and blends their SDFs,
``s = (1 - w) s_face + w s_region`` with ``w`` the mask at the face's own template coordinates, so the surface
beyond the band does not move at all and the band has no crease (``benchmarks/region_locality.py`` measures
both). A region taken from another face is first moved onto this face's region (``RegionEdit.align``). Blending code slices of the blend field's mini-nets instead was measured there too and moved the
whole face by millimetres (the landmark nets take whole codes and the fusion weights are soft).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from imface_core.errors import CodesError
from imface_core.face_codes import FaceCodes, RegionEdit

__all__ = ["REGIONS", "Region", "check_region_edits", "region_anchors", "region_weight"]


@dataclass(frozen=True)
class Region:
    """One editable region."""

    name: str
    label: str
    landmarks: tuple[int, ...]
    """Its group of iBUG-68 landmarks (template's)."""
    lift: float = 0.0
    """Added to the landmarks' y (normalised units; the forehead is the brows lifted)."""
    mirror: str | None = None
    """The region mirrored about the face's mid-plane, for symmetric edits."""
    inner: float = 0.05
    """Mask 1 within this distance of the landmarks (template units, 1 = 100 mm)."""
    outer: float = 0.22
    """Mask 0 beyond this distance. The band between is where the two surfaces meet: where they lie a few mm
    apart, a band of 10 mm made them meet steeply (edges of the marching-cubes mesh in the band bent up to 32
    degrees, 33 of them above 20 degrees, against 14 degrees on the face alone, right eye of the shipped
    model at 128^3); 17 mm keeps them within 20 degrees (``benchmarks/region_locality.py``)."""


_JAW_R, _JAW_L = (2, 3, 4, 5, 6), (10, 11, 12, 13, 14)
REGIONS: dict[str, Region] = {r.name: r for r in (
    Region("eye_r", "Right eye", tuple(range(36, 42)) + tuple(range(17, 22)), mirror="eye_l"),
    Region("eye_l", "Left eye", tuple(range(42, 48)) + tuple(range(22, 27)), mirror="eye_r"),
    Region("nose", "Nose", tuple(range(27, 36))),
    Region("mouth", "Mouth", tuple(range(48, 68))),
    Region("cheek_r", "Right cheek and jaw", _JAW_R + (1, 7), mirror="cheek_l", outer=0.25),
    Region("cheek_l", "Left cheek and jaw", _JAW_L + (9, 15), mirror="cheek_r", outer=0.25),
    Region("forehead", "Forehead", tuple(range(17, 27)), lift=0.25, inner=0.08, outer=0.25),
)}
"""The regions, in the order the panel lists them. "Right" is the person's own right (iBUG 36-41)."""


def region_anchors(region: str, template68: np.ndarray) -> np.ndarray:
    """(n, 3) anchor points of ``region`` in template space, from the template's 68 landmarks (68, 3)."""
    r = REGIONS[region]
    points = np.asarray(template68, dtype=np.float64)[list(r.landmarks)].copy()
    if r.name in ("cheek_r", "cheek_l"):  # the cheek: half-way from the jaw line to the nose wing and eye
        centre = np.asarray(template68, dtype=np.float64)[[31 if r.name == "cheek_r" else 35]]
        points = np.concatenate([points, 0.5 * (points + centre)])
    points[:, 1] += r.lift
    return points


SOFTNESS = 0.01
"""Temperature of the soft minimum over a region's anchors (template units): the nearest-anchor distance has
ridges half-way between anchors, where its slope jumps; the soft minimum is smooth there (and at most
``SOFTNESS * log(anchors)`` below the true minimum), so the mask has no ridge to crease the surface along."""


def region_weight(template_points, anchors, inner: float, outer: float):
    """Mask of a region at template points: (..., 3) -> (...), 1 within about ``inner`` of its anchors, 0 beyond
    ``outer`` (distance: the soft minimum over the anchors, ``SOFTNESS``), the quintic smoothstep between.
    Works on numpy arrays and torch tensors alike."""
    diff = template_points[..., None, :] - anchors
    d = ((diff * diff).sum(-1) + 1e-12) ** 0.5
    low = d.min(-1)
    low = low.values if hasattr(low, "values") else low  # torch's min returns (values, indices)
    soft = low[..., None] - d  # <= 0: the soft minimum, computed stably about the true one
    soft = (soft / SOFTNESS).exp() if hasattr(soft, "exp") else np.exp(soft / SOFTNESS)
    soft = soft.sum(-1)
    d = low - SOFTNESS * (soft.log() if hasattr(soft, "log") else np.log(soft))
    t = ((outer - d) / (outer - inner)).clip(0.0, 1.0)
    return t * t * t * (t * (6.0 * t - 15.0) + 10.0)


def check_region_edits(edits, check: Callable[[FaceCodes], FaceCodes], base: FaceCodes) -> tuple[RegionEdit, ...]:
    """``edits`` with their codes as float32 arrays, or ``CodesError`` for an unknown region or codes the model
    refuses (``check``: ``FaceModel.check_codes`` of the region's own codes over ``base``)."""
    out = []
    for edit in edits:
        if not isinstance(edit, RegionEdit) or edit.region not in REGIONS:
            name = getattr(edit, "region", edit)
            raise CodesError(f"unknown face region {name!r}; the regions are {', '.join(REGIONS)}")
        own = check(edit.codes(base))
        out.append(RegionEdit(edit.region, None if edit.z_id is None else own.z_id,
                              None if edit.exp_offset is None else np.asarray(edit.exp_offset, dtype=np.float32),
                              None if edit.z_det is None else own.z_det, bool(edit.align)))
    return tuple(out)
