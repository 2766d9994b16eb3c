"""Raw scans -> training samples: ``imface prep`` (method.md §4).

For each ``RAW/<identity>/<k>_<expression>.ply`` with its landmark file, write
``DATA/<identity>/<k>_<expression>.npz`` (surface points and normals, free
points with SDF and gradient, 68 landmarks; normalised units, stored compactly:
``prepared.py``) and, unless ``write_mesh`` is off, the pseudo-watertight mesh as
``.ply`` beside it (ground truth for evaluation and fitting; training does not read it).
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import trimesh

from imface_core.data.height_field import pseudo_watertight
from imface_core.data.normalize import (
    NOSE_TIP_LANDMARK,
    crop_unit_sphere,
    normalising_translation,
    to_normalised,
)
from imface_core.data.prepared import pack
from imface_core.data.sampling import sample_free_space, sample_surface, signed_distance
from imface_core.io_utils import atomic_write_text, save_npz_atomic, write_ply_atomic
from imface_core.settings import PrepSettings  # torch-free, with the other commands' settings

SCAN_NAME = re.compile(r"^(\d+)_([A-Za-z0-9_\-]+)\.(ply|obj)$")
PREP_INFO = "prep.json"


class ScanError(ValueError):
    """A raw scan that cannot be used; the message names the file and the reason."""


def landmark_path(scan: Path) -> Path:
    return scan.with_name(scan.stem + "_landmarks.txt")


def find_raw_scans(raw_dir: Path) -> list[Path]:
    """``RAW/<identity>/<k>_<name>.ply`` files, sorted by identity then k."""
    scans = []
    for folder in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        for f in folder.iterdir():
            m = SCAN_NAME.match(f.name)
            if m:
                scans.append((folder.name, int(m.group(1)), f))
    return [f for _, _, f in sorted(scans)]


def load_raw_scan(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices (mm), faces and 68 landmarks of a raw scan, validated."""
    try:
        mesh = trimesh.load(path, process=False, force="mesh")
    except Exception as exc:
        raise ScanError(f"{path}: could not be read as a mesh ({exc})") from exc
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise ScanError(f"{path}: not a triangle mesh (no faces)")
    verts = np.asarray(mesh.vertices, dtype=np.float64)
    if not np.isfinite(verts).all():
        raise ScanError(f"{path}: vertices contain NaN or infinite values")
    lm_file = landmark_path(path)
    if not lm_file.exists():
        raise ScanError(f"{path}: landmark file {lm_file.name} is missing")
    try:
        landmarks = np.loadtxt(lm_file, dtype=np.float64).reshape(-1, 3)
    except ValueError as exc:
        raise ScanError(f"{lm_file}: unreadable landmarks ({exc})") from exc
    if landmarks.shape != (68, 3) or not np.isfinite(landmarks).all():
        raise ScanError(f"{lm_file}: expected 68 finite landmarks, got {landmarks.shape[0]}")
    return verts, np.asarray(mesh.faces, dtype=np.int64), landmarks


def check_frontal_face(path: Path, vertices: np.ndarray, faces: np.ndarray, landmarks: np.ndarray) -> None:
    """Reject what is not roughly a frontal face in millimetres."""
    eye_dist = np.linalg.norm(landmarks[36] - landmarks[45])
    if not 50.0 < eye_dist < 150.0:
        raise ScanError(f"{path}: outer eye corners are {eye_dist:.1f} units apart; expected a face in millimetres (~90)")
    nose, eyes_mid = landmarks[NOSE_TIP_LANDMARK], 0.5 * (landmarks[36] + landmarks[45])
    if nose[2] - eyes_mid[2] < 5.0:
        raise ScanError(f"{path}: the nose tip is not in front of the eyes (+z must face the viewer)")
    mouth_mid = 0.5 * (landmarks[48] + landmarks[54])
    if not mouth_mid[1] < nose[1] < eyes_mid[1]:
        raise ScanError(f"{path}: landmarks are not upright (y must point up: eyes above nose above mouth)")


def prepare_scan(raw: Path, out_npz: Path, settings: PrepSettings) -> dict:
    """Process one scan and write its npz and pseudo-watertight ply; returns a summary."""
    verts, faces, landmarks = load_raw_scan(raw)
    check_frontal_face(raw, verts, faces, landmarks)
    shift = normalising_translation(landmarks[NOSE_TIP_LANDMARK])
    points, crop_faces = crop_unit_sphere(to_normalised(verts, shift), faces)
    if len(crop_faces) < 100:
        raise ScanError(f"{raw}: almost nothing of the scan lies within 100 mm of the nose tip")
    normals = trimesh.Trimesh(points, crop_faces, process=False).vertex_normals
    wt_vertices, wt_faces = pseudo_watertight(points, crop_faces, normals)
    seed = int.from_bytes(hashlib.sha256(f"{settings.seed}:{raw.parent.name}/{raw.name}".encode()).digest()[:4], "little")
    rng = np.random.default_rng(seed)
    surface, surface_n = sample_surface(wt_vertices, wt_faces, settings.surface_points, rng)
    dense = np.concatenate([surface, wt_vertices])
    dense_n = np.concatenate([surface_n, trimesh.Trimesh(wt_vertices, wt_faces, process=False).vertex_normals])
    free = sample_free_space(settings.free_points, settings.near_fraction, surface, rng)
    free_sdf, free_grad = signed_distance(free, dense, dense_n)
    f32 = np.float32
    save_npz_atomic(
        out_npz, **pack(surface, surface_n, free, free_sdf, free_grad, to_normalised(landmarks, shift), shift)
    )
    if settings.write_mesh:
        write_ply_atomic(out_npz.with_suffix(".ply"), trimesh.Trimesh(wt_vertices.astype(f32), wt_faces, process=False))
    return {"scan": str(raw), "vertices": len(wt_vertices), "faces": len(wt_faces)}


def _prepare_task(args):
    raw, out_npz, settings = args
    try:
        return prepare_scan(Path(raw), Path(out_npz), settings)
    except ScanError as exc:
        return {"scan": str(raw), "error": str(exc)}
    except Exception as exc:  # keep going with the other scans; report it
        return {"scan": str(raw), "error": f"{raw}: unexpected failure: {type(exc).__name__}: {exc}"}


def prepare_dataset(raw_dir, out_dir, settings: PrepSettings = PrepSettings(), jobs: int = 1, progress=None, overwrite=False):
    """Process every raw scan; failures are collected, not fatal. Returns (done, skipped)."""
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"raw scan folder not found: `{raw_dir}`")
    scans = find_raw_scans(raw_dir)
    if not scans:
        raise ScanError(f"`{raw_dir}` holds no scans named <identity>/<k>_<expression>.ply")
    tasks = []
    for raw in scans:
        out_npz = out_dir / raw.parent.name / (raw.stem + ".npz")
        if overwrite or not (out_npz.exists() and (out_npz.with_suffix(".ply").exists() or not settings.write_mesh)):
            tasks.append((str(raw), str(out_npz), settings))
    done, skipped = [], []
    if progress is not None and len(tasks) < len(scans):
        progress(len(scans) - len(tasks))
    results = map(_prepare_task, tasks) if jobs <= 1 else ProcessPoolExecutor(jobs).map(_prepare_task, tasks)
    for result in results:
        (skipped if "error" in result else done).append(result)
        if progress is not None:
            progress(1)
    info = {"raw": str(raw_dir), "settings": settings.__dict__, "skipped": skipped}
    atomic_write_text(out_dir / PREP_INFO, json.dumps(info, indent=1))
    return done, skipped
