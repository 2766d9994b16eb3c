"""Detail transfer (method.md section 3): the target's shape with the source's details.

Details live in template space (RDF(x_t; z_det)), so a source's z_det put on a target's z_id and z_exp lands
on corresponding places of the target and moves with its expression. The detail *strength* is the
``detail_scale`` of ``FaceModel.mesh`` / ``sdf`` (0 = no details, 1 = as trained, > 1 exaggerated).
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imface_core.errors import CodesError
from imface_core.face_codes import FaceCodes

if TYPE_CHECKING:
    from imface_core.face_model import FaceModel

__all__ = ["transfer_detail", "blend_detail", "load_codes", "save_codes"]


def transfer_detail(target: FaceCodes, source: FaceCodes) -> FaceCodes:
    """The target's z_id and z_exp with the source's z_det."""
    _require_codes(target, "target")
    _require_codes(source, "source")
    if np.shape(target.z_det) != np.shape(source.z_det):
        raise CodesError(f"z_det sizes differ: target {np.shape(target.z_det)}, source {np.shape(source.z_det)}; "
                         "details transfer only between codes of models with the same z_det size")
    return target.replace(z_det=np.array(source.z_det, dtype=np.float32))


def blend_detail(target: FaceCodes, source: FaceCodes, amount: float) -> FaceCodes:
    """z_det interpolated from the target's (amount 0) to the source's (amount 1)."""
    _require_codes(target, "target")
    _require_codes(source, "source")
    if not math.isfinite(amount):
        raise CodesError(f"the blend amount must be a finite number, got {amount!r}")
    if np.shape(target.z_det) != np.shape(source.z_det):
        raise CodesError(f"z_det sizes differ: target {np.shape(target.z_det)}, source {np.shape(source.z_det)}")
    z = (1.0 - amount) * np.asarray(target.z_det, np.float64) + amount * np.asarray(source.z_det, np.float64)
    return target.replace(z_det=z.astype(np.float32))


def _require_codes(codes, role: str) -> None:
    if not isinstance(codes, FaceCodes):
        raise CodesError(f"the {role} of a detail transfer must be FaceCodes, got {type(codes).__name__}")


CODES_FILE_HELP = ("an .npz with arrays z_id, z_exp and z_det (as `imface fit` or `imface generate --save-codes` "
                   "write), or IDENTITY:EXPRESSION naming a training scan of the model (e.g. 1:2)")


def load_codes(model: FaceModel, spec: str | Path) -> FaceCodes:
    """Codes from ``spec``: an ``.npz`` with arrays z_id, z_exp, z_det (as ``save_codes`` writes, e.g. a
    fitted scan), or ``"IDENTITY:EXPRESSION"`` naming a training scan of the model (names or indices,
    e.g. ``s0_001:smile`` or ``1:2``). Raises ``CodesError`` naming the file and what it must hold, or
    ``KeyError`` / ``IndexError`` for a training scan the model does not have."""
    text = str(spec)
    path = Path(text)
    if path.suffix == ".npz" or path.exists():
        return model.check_codes(_read_codes_file(path))
    if ":" not in text:
        raise CodesError(f"`{text}` is neither a codes file nor IDENTITY:EXPRESSION: give {CODES_FILE_HELP}")
    identity, expression = text.rsplit(":", 1)
    ident: int | str = int(identity) if identity.isdigit() and identity not in model.identities else identity
    expr: int | str = int(expression) if expression.isdigit() and expression not in model.expressions else expression
    return model.codes(ident, expr)


def _read_codes_file(path: Path) -> FaceCodes:
    """The three arrays of a codes file (not yet checked against a model)."""
    if path.is_dir():
        raise CodesError(f"`{path}` is a folder, not a codes file: give {CODES_FILE_HELP}")
    if not path.is_file():
        raise CodesError(f"codes file not found: `{path}`")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CodesError(f"`{path}` is not a codes file ({type(exc).__name__}): it must be {CODES_FILE_HELP}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise CodesError(f"`{path}` holds a single array, not a codes file: it must be {CODES_FILE_HELP}")
    with data:
        missing = [k for k in ("z_id", "z_exp", "z_det") if k not in data.files]
        if missing:
            raise CodesError(f"`{path}` lacks {', '.join(missing)}: a codes file holds arrays z_id, z_exp and z_det "
                             f"(it has {', '.join(data.files) or 'no arrays'})")
        try:
            arrays = [np.asarray(data[k]).reshape(-1) for k in ("z_id", "z_exp", "z_det")]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise CodesError(f"`{path}` is damaged: {type(exc).__name__}: {str(exc)[:120]}") from None
    return FaceCodes(*arrays)


def save_codes(path: str | Path, codes: FaceCodes) -> None:
    """Write codes as an .npz (z_id, z_exp, z_det), atomically."""
    from imface_core.io_utils import save_npz_atomic

    save_npz_atomic(path, **codes.as_dict())
