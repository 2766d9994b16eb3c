"""``FaceCodes``: the three latent codes of one face (numpy only, so the engine, fitting and files can pass
codes around without loading the model), with the local edits (``RegionEdit``) laid over them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["FaceCodes", "RegionEdit", "codes_key"]


@dataclass(frozen=True)
class RegionEdit:
    """One face region (``imface_core.local_edit.REGIONS``) drawn with other codes.

    The region's codes are ``z_id`` (None: the face's own), the face's z_exp plus ``exp_offset`` (None: no
    offset, so the region follows the face's expression) and ``z_det`` (None: the face's own). The field
    blends the two faces' SDFs with a smooth mask in template space (``local_edit``), so nothing outside the
    region's band moves. ``align``: the region is another face's, moved so that it sits where this face's
    region is (its landmarks on this face's, on average: a transplant); False for the region's own edits
    (sliders, expression), which would be undone in part by such a move.
    """

    region: str
    z_id: np.ndarray | None = None
    exp_offset: np.ndarray | None = None
    z_det: np.ndarray | None = None
    align: bool = False

    def codes(self, base: "FaceCodes") -> "FaceCodes":
        """The region's own codes over the face ``base`` (without region edits)."""
        z_exp = base.z_exp if self.exp_offset is None else np.asarray(base.z_exp) + self.exp_offset
        return FaceCodes(*(np.asarray(z, dtype=np.float32) for z in (
            base.z_id if self.z_id is None else self.z_id, z_exp, base.z_det if self.z_det is None else self.z_det)))


@dataclass(frozen=True)
class FaceCodes:
    """The three latent codes of one face (1-D float32 arrays), and its region edits (applied in order)."""

    z_id: np.ndarray
    z_exp: np.ndarray
    z_det: np.ndarray
    regions: tuple[RegionEdit, ...] = field(default=())

    def replace(self, **changes) -> "FaceCodes":
        """These codes with some of z_id, z_exp, z_det replaced (the region edits are kept)."""
        return replace(self, **{k: np.asarray(v, dtype=np.float32) for k, v in changes.items()})

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"z_id": self.z_id, "z_exp": self.z_exp, "z_det": self.z_det}

    def without_regions(self) -> "FaceCodes":
        return replace(self, regions=())


def codes_key(codes: FaceCodes) -> str:
    """A short digest of the codes and region edits (equal codes <=> equal key, to the bit)."""
    h = hashlib.blake2b(digest_size=12)
    for z in (codes.z_id, codes.z_exp, codes.z_det):
        h.update(np.ascontiguousarray(z, dtype=np.float32).tobytes())
    for edit in codes.regions:
        h.update(edit.region.encode() + (b"@" if edit.align else b"."))
        for z in (edit.z_id, edit.exp_offset, edit.z_det):
            h.update(b"-" if z is None else b"+" + np.ascontiguousarray(z, dtype=np.float32).tobytes())
    return h.hexdigest()
