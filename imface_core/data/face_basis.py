"""Linear face models that synthetic scans are drawn from (ICT-FaceKit), read by path.

Two forms of the ICT Face Model are accepted:
- the head-region npz (``ict_head_eyes.npz``, the head with both eyeballs, or
  ``ict_head_sockets.npz``, the head alone: centimetres, see their NOTICE), or
- the original ICT-FaceKit ``FaceXModel/`` folder of OBJ files a user downloads
  (its eyeballs are kept when its OBJs have them).
Everything is returned in millimetres, y up, +z towards the viewer.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# ICT topology: the first vertices are skin (face 0..9408, head and neck 9409..11247);
# the mouth socket and the eye sockets follow. Scans keep the skin only.
ICT_FACE_VERTEX_COUNT = 9409
ICT_SKIN_VERTEX_COUNT = 11248
ICT_HEAD_VERTEX_COUNT = 14062
# Both eyeballs (sclera and iris) in the full ICT topology; ict_head_eyes.npz appends them after the head.
ICT_EYEBALL_RANGE = (21451, 24591)
EYES_NPZ = "ict_head_eyes.npz"
SOCKETS_NPZ = "ict_head_sockets.npz"


def shared_dir() -> Path:
    """The read-only shared folder: ``$IMFACE_SHARED`` or ``../shared`` beside the checkout."""
    env = os.environ.get("IMFACE_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared"


def default_face_model() -> Path | None:
    """``ict_head_eyes.npz`` in the shared folder (scans with eyes), else ``ict_head_sockets.npz``, else None."""
    folder = shared_dir() / "data" / "ict_facekit"
    for name in (EYES_NPZ, SOCKETS_NPZ):
        if (folder / name).is_file():
            return folder / name
    return None


class FaceBasisError(ValueError):
    """A face-model path that cannot be read; the message says what to do."""


@dataclass(frozen=True)
class FaceBasis:
    """A linear face model: ``mean + id_coef @ id_basis + exp_w @ exp_basis`` (all millimetres)."""

    mean: np.ndarray  # (V, 3) float32
    faces: np.ndarray  # (F, 3) int64
    id_basis: np.ndarray  # (n_id, V, 3) float32, coefficients ~ N(0, 1)
    exp_basis: np.ndarray  # (n_exp, V, 3) float32, weights in [0, 1]
    exp_names: tuple[str, ...]
    landmarks68: np.ndarray  # (68,) int64 vertex indices (iBUG order)
    skin_vertex_count: int  # vertices [0, skin) are skin; the rest are sockets (and eyeballs)
    source: str
    # Eyeball vertices (sclera and iris; empty for a model without eyes). Expressions do not move them.
    eyeball_vertices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def scan_vertices(self) -> np.ndarray:
        """What a scan keeps, in this order: the skin, then the eyeballs (no mouth or eye sockets)."""
        return np.concatenate([np.arange(self.skin_vertex_count), self.eyeball_vertices]).astype(np.int64)

    def shape(self, id_coef: np.ndarray, exp_weights: np.ndarray) -> np.ndarray:
        """Vertex positions (V, 3) in mm for identity coefficients and expression weights."""
        n_id = len(id_coef)
        v = self.mean + np.tensordot(id_coef.astype(np.float32), self.id_basis[:n_id], axes=1)
        return v + np.tensordot(exp_weights.astype(np.float32), self.exp_basis, axes=1)

    def exp_index(self, name: str) -> int:
        return self.exp_names.index(name)

    @property
    def nose_tip(self) -> int:
        return int(self.landmarks68[30])


def load_face_basis(path: str | Path) -> FaceBasis:
    """Read an ICT face model from an ``.npz`` file or a ``FaceXModel/`` OBJ folder."""
    path = Path(path)
    if not path.exists():
        raise FaceBasisError(
            f"face model not found: `{path}`. Pass --face-model with ../shared/data/ict_facekit/"
            f"{EYES_NPZ} (or {SOCKETS_NPZ}) or the FaceXModel/ folder of an ICT-FaceKit download."
        )
    if path.is_dir():
        return _load_facex_folder(path)
    return _load_npz(path)


def _load_npz(path: Path) -> FaceBasis:
    try:
        data = np.load(path, allow_pickle=False)
        arrays = {k: data[k] for k in ("mean", "faces", "id_basis", "exp_basis", "exp_names", "landmarks68")}
        eyes = data["eyeball_vertices"].astype(np.int64) if "eyeball_vertices" in data.files else np.zeros(0, np.int64)
    except KeyError as exc:
        raise FaceBasisError(f"`{path}` is not an ICT face-model npz: missing array {exc}") from exc
    except Exception as exc:  # zip/pickle/format errors all mean "not a readable npz"
        raise FaceBasisError(f"`{path}` could not be read as an npz file: {exc}") from exc
    mean = arrays["mean"].astype(np.float32) * 10.0  # cm -> mm
    n_vertices = len(mean)
    _check_shapes(path, mean, arrays["id_basis"], arrays["exp_basis"], arrays["faces"], arrays["landmarks68"])
    if len(eyes) and (eyes.min() < 0 or eyes.max() >= n_vertices):
        raise FaceBasisError(f"`{path}`: eyeball_vertices index past the {n_vertices} vertices")
    head = n_vertices - len(eyes)
    if len(eyes) and not np.array_equal(np.sort(eyes), np.arange(head, n_vertices)):
        raise FaceBasisError(f"`{path}`: eyeball_vertices must be the last {len(eyes)} vertices")
    skin = ICT_SKIN_VERTEX_COUNT if head == ICT_HEAD_VERTEX_COUNT else head
    return FaceBasis(
        mean=mean,
        faces=arrays["faces"].astype(np.int64),
        id_basis=arrays["id_basis"].astype(np.float32) * 10.0,
        exp_basis=_still_eyes(arrays["exp_basis"].astype(np.float32) * 10.0, eyes),
        exp_names=tuple(str(n) for n in arrays["exp_names"]),
        landmarks68=arrays["landmarks68"].astype(np.int64),
        skin_vertex_count=skin,
        source=str(path),
        eyeball_vertices=eyes,
    )


def _still_eyes(exp_basis: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """Expressions do not move the eyeballs (only the identity shapes them): the lids close over
    eyeballs that stay where they are. ict_head_eyes.npz already has zero expression offsets there;
    an ICT-FaceKit folder's gaze shapes (eyeLook*) would turn them, and are dropped for them."""
    if len(eyes):
        exp_basis[:, eyes] = 0.0
    return exp_basis


def _check_shapes(path, mean, id_basis, exp_basis, faces, landmarks) -> None:
    v = len(mean)
    problems = []
    if mean.ndim != 2 or mean.shape[1] != 3:
        problems.append(f"mean has shape {mean.shape}, expected (V, 3)")
    if id_basis.shape[1:] != (v, 3):
        problems.append(f"id_basis has shape {id_basis.shape}, expected (n, {v}, 3)")
    if exp_basis.shape[1:] != (v, 3):
        problems.append(f"exp_basis has shape {exp_basis.shape}, expected (n, {v}, 3)")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.max(initial=0) >= v:
        problems.append("faces are not triangles indexing the vertices")
    if landmarks.shape != (68,) or landmarks.max(initial=0) >= v:
        problems.append("landmarks68 must be 68 vertex indices")
    if problems:
        raise FaceBasisError(f"`{path}` is not a usable face model: " + "; ".join(problems))


def _read_obj(path: Path) -> tuple[np.ndarray, list[list[int]]]:
    """Vertices (cm) and polygon index lists of an OBJ file, fast enough for 26k-vertex files."""
    verts, polys = [], []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("v "):
                verts.append(line.split()[1:4])
            elif line.startswith("f "):
                polys.append([int(tok.split("/")[0]) - 1 for tok in line.split()[1:]])
    if not verts:
        raise FaceBasisError(f"`{path}` has no vertices")
    return np.asarray(verts, dtype=np.float32), polys


def _load_facex_folder(folder: Path) -> FaceBasis:
    neutral_path = folder / "generic_neutral_mesh.obj"
    if not neutral_path.exists():
        raise FaceBasisError(
            f"`{folder}` is not an ICT-FaceKit FaceXModel folder: generic_neutral_mesh.obj is missing"
        )
    neutral, polys = _read_obj(neutral_path)
    # The head region, then both eyeballs when the OBJs have them (as in ict_head_eyes.npz).
    n_head = min(ICT_HEAD_VERTEX_COUNT, len(neutral))
    keep = np.arange(n_head)
    if n_head == ICT_HEAD_VERTEX_COUNT and len(neutral) >= ICT_EYEBALL_RANGE[1]:
        keep = np.concatenate([keep, np.arange(*ICT_EYEBALL_RANGE)])
    new_index = np.full(len(neutral), -1, dtype=np.int64)
    new_index[keep] = np.arange(len(keep))
    tris = []
    for poly in polys:
        idx = new_index[poly]
        if (idx >= 0).all():
            tris.extend([idx[0], idx[i], idx[i + 1]] for i in range(1, len(idx) - 1))
    faces = np.asarray(tris, dtype=np.int64)
    id_paths = sorted(folder.glob("identity[0-9][0-9][0-9].obj"))
    if not id_paths:
        raise FaceBasisError(f"`{folder}` has no identityNNN.obj files")
    id_basis = np.stack([_read_obj(p)[0][keep] - neutral[keep] for p in id_paths])
    exp_paths = sorted(
        p for p in folder.glob("*.obj") if p.name != neutral_path.name and not p.name.startswith("identity")
    )
    eyes = np.arange(n_head, len(keep), dtype=np.int64)
    exp_basis = _still_eyes(np.stack([_read_obj(p)[0][keep] - neutral[keep] for p in exp_paths]), eyes)
    landmarks = _facex_landmarks(folder)
    mean = neutral[keep]
    _check_shapes(folder, mean, id_basis, exp_basis, faces, landmarks)
    return FaceBasis(
        mean=mean * 10.0,
        faces=faces,
        id_basis=id_basis * 10.0,
        exp_basis=exp_basis * 10.0,
        exp_names=tuple(p.stem for p in exp_paths),
        landmarks68=landmarks,
        skin_vertex_count=ICT_SKIN_VERTEX_COUNT if n_head == ICT_HEAD_VERTEX_COUNT else n_head,
        source=str(folder),
        eyeball_vertices=eyes,
    )


def _facex_landmarks(folder: Path) -> np.ndarray:
    """The 68 landmark vertex indices: ``landmarks68.txt`` or a ``landmarks68`` key in vertex_indices.json."""
    txt = folder / "landmarks68.txt"
    if txt.exists():
        return np.loadtxt(txt, dtype=np.int64).reshape(-1)
    js = folder / "vertex_indices.json"
    if js.exists():
        data = json.loads(js.read_text())
        if isinstance(data, dict) and "landmarks68" in data:
            return np.asarray(data["landmarks68"], dtype=np.int64)
    raise FaceBasisError(
        f"`{folder}` has no landmark list: put the 68 iBUG landmark vertex indices in "
        f"{txt.name} (one per line) or use the ict_head_sockets.npz form of the model"
    )
