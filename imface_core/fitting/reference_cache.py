"""The fit's alignment reference (the model's mean face as points) kept on disk between runs.

Every ``imface fit`` aligns the scan to the model's mean face, and making that surface (a 96^3 mesh of the mean
codes, its visible front, 20,000 samples) takes ~2 s of a ~20 s fit on a 2-core CPU. It is the same for every
fit with one model file, so it is kept in the user's cache folder
(``$XDG_CACHE_HOME/imface-studio/fit_references``) under a key made of the model file's content, the code that
makes face meshes (``start_face.code_digest``), the resolution, the device and this module's format: a changed
model or engine computes it afresh, never aligns to a stale face. A missing, corrupt or unwritable file only
means the reference is computed as before. A model not loaded from a file is never cached.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from imface_core.io_utils import save_npz_atomic

_log = logging.getLogger(__name__)
FORMAT = 1
"""Changes when what is stored or how the key is made changes (older files then never match)."""
FIELDS = ("points", "normals", "landmarks5")


def cache_folder() -> Path:
    from imface_core.start_face import user_cache_folder

    return user_cache_folder("fit_references")


def reference_path(model, resolution: int) -> Path | None:
    """Where the reference of ``model`` (a ``FaceModel``) at ``resolution`` is kept; None for a model without
    a file."""
    path = getattr(model, "path", None)
    if path is None or not Path(path).is_file():
        return None
    from imface_core.start_face import code_digest, file_digest

    parts = (FORMAT, file_digest(path), code_digest(), int(resolution), str(model.device))
    key = hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()
    return cache_folder() / f"{Path(path).stem}-{key}.npz"


def load_reference(model, resolution: int) -> dict[str, np.ndarray] | None:
    """The stored arrays (points, normals, landmarks5) or None (none stored, no model file, unreadable)."""
    path = reference_path(model, resolution)
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k], dtype=np.float64) for k in FIELDS}
    except Exception as exc:  # a corrupt or foreign file: compute the reference instead
        _log.warning("ignoring the stored fit reference %s: %s", path, exc)
        return None
    if (arrays["points"].ndim != 2 or arrays["points"].shape != arrays["normals"].shape
            or arrays["landmarks5"].shape != (5, 3) or not all(np.isfinite(a).all() for a in arrays.values())):
        _log.warning("ignoring the stored fit reference %s: unexpected arrays", path)
        return None
    return arrays


def save_reference(model, resolution: int, points: np.ndarray, normals: np.ndarray, landmarks5: np.ndarray
                   ) -> Path | None:
    """Store the reference of ``model``; the path written, or None when it could not be (nothing changes)."""
    path = reference_path(model, resolution)
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_npz_atomic(path, points=np.asarray(points, dtype=np.float64),
                        normals=np.asarray(normals, dtype=np.float64),
                        landmarks5=np.asarray(landmarks5, dtype=np.float64))
    except OSError as exc:
        _log.info("could not store the fit reference in %s: %s", path, exc)
        return None
    return path
