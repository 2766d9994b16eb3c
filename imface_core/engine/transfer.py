"""Detail transfer (method.md section 3): the target's shape with the source's details.

Details live in template space (RDF(x_t; z_det)), so a source's z_det put on a target's z_id and z_exp lands
on corresponding places of the target and moves with its expression. The detail *strength* is the
``detail_scale`` of ``FaceModel.mesh`` / ``sdf`` (0 = no details, 1 = as trained, > 1 exaggerated).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imface_core.face_model import FaceCodes, FaceModel

__all__ = ["transfer_detail", "blend_detail", "load_codes", "save_codes"]


def transfer_detail(target: FaceCodes, source: FaceCodes) -> FaceCodes:
    """The target's z_id and z_exp with the source's z_det."""
    if np.shape(target.z_det) != np.shape(source.z_det):
        raise ValueError(f"z_det sizes differ: target {np.shape(target.z_det)}, source {np.shape(source.z_det)}")
    return target.replace(z_det=np.array(source.z_det, dtype=np.float32))


def blend_detail(target: FaceCodes, source: FaceCodes, amount: float) -> FaceCodes:
    """z_det interpolated from the target's (amount 0) to the source's (amount 1)."""
    z = (1.0 - amount) * np.asarray(target.z_det, np.float64) + amount * np.asarray(source.z_det, np.float64)
    return target.replace(z_det=z.astype(np.float32))


def load_codes(model: FaceModel, spec: str | Path) -> FaceCodes:
    """Codes from ``spec``: an ``.npz`` with arrays z_id, z_exp, z_det (as ``save_codes`` writes, e.g. a
    fitted scan), or ``"IDENTITY:EXPRESSION"`` naming a training scan of the model (names or indices,
    e.g. ``s0_001:smile`` or ``1:2``)."""
    text = str(spec)
    path = Path(text)
    if path.suffix == ".npz" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"codes file not found: `{path}`")
        with np.load(path) as data:
            missing = [k for k in ("z_id", "z_exp", "z_det") if k not in data]
            if missing:
                raise ValueError(f"`{path}` lacks {missing}: expected arrays z_id, z_exp, z_det")
            codes = FaceCodes(*(np.asarray(data[k], dtype=np.float32).reshape(-1) for k in ("z_id", "z_exp", "z_det")))
        spec_dims = model.latent_spec
        for k, z in codes.as_dict().items():
            if len(z) != spec_dims[k]:
                raise ValueError(f"`{path}`: {k} has {len(z)} values, the model expects {spec_dims[k]}")
        return codes
    if ":" not in text:
        raise ValueError(f"`{text}` is neither an .npz codes file nor IDENTITY:EXPRESSION")
    identity, expression = text.rsplit(":", 1)
    ident: int | str = int(identity) if identity.isdigit() and identity not in model.identities else identity
    expr: int | str = int(expression) if expression.isdigit() and expression not in model.expressions else expression
    return model.codes(ident, expr)


def save_codes(path: str | Path, codes: FaceCodes) -> None:
    """Write codes as an .npz (z_id, z_exp, z_det), atomically."""
    from imface_core.io_utils import save_npz_atomic

    save_npz_atomic(path, **codes.as_dict())
