"""Local edits in the editor's state: one ``RegionState`` per edited region (no Qt, no torch at import).

A region (``imface_core.local_edit.REGIONS``: eyes, nose, mouth, cheeks and jaw, forehead) can take its
identity from another face (a training person or a fitted scan: ``source`` with its ``z_id`` and ``z_det``),
move its identity along the first principal directions (``id_coeffs``, sigma units) and take named expressions
of its own (``exp_mix``, added to the face's expression, so it still follows the face's). ``region_edits`` turns
them into the ``RegionEdit``s the field blends in. Values are immutable tuples: a ``FaceState`` holds them and
goes on the undo stack and into session files (``to_dict`` / ``from_dict``).

Symmetric edits: ``mirrored`` gives the partner region (right eye <-> left eye, right cheek <-> left cheek) the
same edit. The model has no mirror of a code, so the partner takes the same codes: the same person's other eye,
the same expression's other side (a wink becomes a blink).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from imface_core.local_edit import REGIONS

if TYPE_CHECKING:
    from imface_core.face_codes import RegionEdit

__all__ = ["REGION_SLIDERS", "RegionState", "mirrored", "region_edits", "with_region"]

REGION_SLIDERS = 5
"""Identity sliders of a region: its first principal directions (at most)."""


@dataclass(frozen=True)
class RegionState:
    """The edit of one region (see the module doc)."""

    region: str
    source: str = ""
    """Name of the face the region's identity comes from ("": the face's own)."""
    z_id: tuple[float, ...] = ()
    """The source's z_id (empty: the face's own)."""
    z_det: tuple[float, ...] = ()
    """The source's details (empty: the face's own)."""
    id_coeffs: tuple[float, ...] = ()
    """Region identity sliders, sigma units, added to the region's z_id (empty: none moved)."""
    exp_mix: tuple[float, ...] = ()
    """Named-expression sliders of the region alone (``FaceSpace.expression_names`` order; empty: none)."""

    @property
    def is_identity(self) -> bool:
        """Nothing edited (the region looks like the rest of the face)."""
        return not self.z_id and not self.z_det and not any(self.id_coeffs) and not any(self.exp_mix)

    def to_dict(self) -> dict[str, Any]:
        return {"region": self.region, "source": self.source, "z_id": list(self.z_id), "z_det": list(self.z_det),
                "id_coeffs": list(self.id_coeffs), "exp_mix": list(self.exp_mix)}

    @classmethod
    def from_dict(cls, data: Any) -> "RegionState":
        """Inverse of ``to_dict``; ``ValueError`` naming the bad field."""
        if not isinstance(data, dict) or data.get("region") not in REGIONS:
            raise ValueError(f"a region edit must name one of the regions {', '.join(REGIONS)}")
        values = {}
        for name in ("z_id", "z_det", "id_coeffs", "exp_mix"):
            items = data.get(name, [])
            if not isinstance(items, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                      and math.isfinite(v) for v in items):
                raise ValueError(f"region edit `{name}` must be a list of finite numbers")
            values[name] = tuple(float(v) for v in items)
        return cls(data["region"], str(data.get("source", "")), **values)


def with_region(regions: tuple[RegionState, ...], edit: RegionState, symmetric: bool = False) -> tuple[RegionState, ...]:
    """``regions`` with ``edit`` in place of its region's edit (and of its mirror's, ``symmetric``); an edit that
    changes nothing is dropped."""
    edits = [edit] + ([mirrored(edit)] if symmetric and REGIONS[edit.region].mirror else [])
    names = {e.region for e in edits}
    kept = [r for r in regions if r.region not in names]
    return tuple(kept + [e for e in edits if not e.is_identity])


def mirrored(edit: RegionState) -> RegionState:
    """The same edit on the partner region (the module doc says what "the same" is)."""
    return replace(edit, region=REGIONS[edit.region].mirror or edit.region)


def region_edits(space, regions: Sequence[RegionState], face_z_id: np.ndarray) -> tuple["RegionEdit", ...]:
    """The ``RegionEdit``s of ``regions`` on the model of ``space`` (a ``FaceSpace``), for a face of identity
    ``face_z_id`` (a region's identity sliders move from it when the region has no source)."""
    from imface_core.face_codes import RegionEdit  # numpy only

    out = []
    for r in regions:
        z_id = np.asarray(r.z_id, dtype=np.float64) if r.z_id else None
        if any(r.id_coeffs):
            coeffs = np.zeros(space.identity.num_components)
            coeffs[:len(r.id_coeffs)] = r.id_coeffs
            offset = space.identity.code(coeffs) - space.identity.code(np.zeros_like(coeffs))
            z_id = (np.asarray(face_z_id, dtype=np.float64) if z_id is None else z_id) + offset
        exp = np.asarray(r.exp_mix) @ space.expression_deltas if any(r.exp_mix) else None
        out.append(RegionEdit(r.region, None if z_id is None else z_id.astype(np.float32),
                              None if exp is None else exp.astype(np.float32),
                              np.asarray(r.z_det, dtype=np.float32) if r.z_det else None, align=bool(r.z_id)))
    return tuple(out)
