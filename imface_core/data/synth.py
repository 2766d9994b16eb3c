"""Synthetic FaceScape-like scans from a linear face model, with wrinkles and skin texture.

A scan is the model's skin, subdivided where the face is, plus its eyeballs when the model has
them (``ict_head_eyes.npz``): the eyes show between open lids and a blink closes the lids over
them. The eyeballs get no skin texture or wrinkles, and expressions do not move them.

Output tree: ``RAW/<identity>/<k>_<expression>.ply`` (millimetres, y up, +z to
the viewer) with ``<k>_<expression>_landmarks.txt`` (68 x 3) beside each scan,
and ``RAW/manifest.json`` recording every random draw so any scan can be
regenerated.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from imface_core.data.detail import DetailGenerator, PersonDetail
from imface_core.data.expressions import EXPRESSION_NAMES, expression_weights
from imface_core.data.face_basis import FaceBasis, load_face_basis
from imface_core.data.subdivide import plan_subdivision, vertex_normals
from imface_core.io_utils import atomic_write_text, write_ply_atomic

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
CROP_RADIUS_MM = 100.0
CROP_BEHIND_NOSE_MM = 40.0
BLINK_SCALES = (1.0, 1.15, 1.3, 1.45, 1.6)  # tried in turn until a person's blink closes the lids


@dataclass(frozen=True)
class IdentitySpec:
    name: str
    id_coef: np.ndarray
    detail: PersonDetail
    exp_rng_seed: int


def draw_identities(n: int, seed: int, n_modes: int, sigma: float = 1.0) -> list[IdentitySpec]:
    """People for one seed: identity coefficients ~ N(0, sigma^2), a detail pattern, an expression seed."""
    rng = np.random.default_rng(seed)
    people = []
    for i in range(n):
        coef = rng.normal(0.0, sigma, size=n_modes).astype(np.float32)
        detail = PersonDetail.draw(rng)
        people.append(IdentitySpec(f"s{seed}_{i:03d}", coef, detail, int(rng.integers(0, 2**31 - 1))))
    return people


class ScanSynthesizer:
    """Builds one detailed scan at a time; the subdivision and rest surface are planned once."""

    def __init__(self, basis: FaceBasis, levels: int = 2):
        self.basis = basis
        # A scan keeps the skin and the eyeballs (when the model has them), not the mouth or eye sockets.
        self.keep = basis.scan_vertices
        skin = basis.skin_vertex_count
        index = np.full(len(basis.mean), -1, dtype=np.int64)
        index[self.keep] = np.arange(len(self.keep))
        faces = index[basis.faces[(index[basis.faces] >= 0).all(axis=1)]]
        eye = np.zeros(len(self.keep), dtype=bool)
        eye[skin:] = True  # the eyeballs follow the skin in ``keep``
        rest = basis.mean[self.keep]
        centre = rest[basis.nose_tip] - np.array([0.0, 0.0, CROP_BEHIND_NOSE_MM])
        dist = np.linalg.norm(rest - centre, axis=1)
        # Subdivide where detail lives: the frontal crop region, with a margin. The eyeballs (a separate
        # shell, 1-2 mm between vertices) are subdivided in front, where they show between the lids,
        # so the surface has the skin's density there too (no fans of long triangles to the lid edge).
        face_mask = (dist[faces] < CROP_RADIUS_MM + 10.0).any(axis=1) & (rest[faces][:, :, 2] > centre[2] - 20.0).any(axis=1)
        eye_face = eye[faces].any(axis=1)
        if eye.any():
            side = rest[faces[:, 0], 0] > rest[basis.nose_tip, 0]
            eye_z = {s: rest[eye & ((rest[:, 0] > rest[basis.nose_tip, 0]) == s), 2].mean() for s in (False, True)}
            front = rest[faces][:, :, 2].min(axis=1) > np.where(side, eye_z[True], eye_z[False])
            face_mask = np.where(eye_face, front, face_mask)
        self.plan = plan_subdivision(faces, len(self.keep), face_mask, levels)
        rest_sub = self.plan.apply(rest.astype(np.float64))
        rest_dist = np.linalg.norm(rest_sub - centre, axis=1)
        # Which vertices of a scan are eyeball, midpoints included (no skin texture or wrinkles there).
        self.eyeball = np.asarray(self.plan.matrix @ eye.astype(np.float64)) > 0.5
        # Detail fades out well inside the subdivided region (no cracks at its T-junction border).
        # Depth: that border lies at z <= centre - 20 mm; detail is zero from centre - 15 mm and full
        # from centre - 5 mm, so the forehead, crow's-feet and cheek regions of the ICT face keep it.
        region = 1.0 - np.clip((rest_dist - 80.0) / 10.0, 0.0, 1.0)
        region *= np.clip((rest_sub[:, 2] - (centre[2] - 15.0)) / 10.0, 0.0, 1.0)
        region[self.eyeball] = 0.0
        self.details = DetailGenerator(rest_sub, rest[basis.landmarks68], region)

        self._blink = [i for i, n in enumerate(basis.exp_names) if n in ("eyeBlink_L", "eyeBlink_R")]
        self._blink_scales: dict[bytes, float] = {}

    def _uncovered_eyeball(self, id_coef: np.ndarray, blink: float) -> int:
        """Eyeball vertices no skin covers along +z, with both lids at ``blink`` times the blink shape."""
        b = self.basis
        w = np.zeros(len(b.exp_names), np.float32)
        w[self._blink] = blink
        v = b.shape(id_coef, w)
        skin = b.skin_vertex_count
        mesh = trimesh.Trimesh(v[:skin], b.faces[(b.faces < skin).all(axis=1)], process=False)
        eye = v[b.eyeball_vertices]
        front = eye[:, 2] > np.median(eye[:, 2])
        rays = np.tile([0.0, 0.0, 1.0], (int(front.sum()), 1))
        return int((~mesh.ray.intersects_any(eye[front] + [0.0, 0.0, 1e-3], rays)).sum())

    def blink_scale(self, id_coef: np.ndarray) -> float:
        """How far this person's lids must go to close: the ICT blink shape is one offset for everyone, so
        on eyes opened wider than the mean face's, weight 1 leaves a slit. The smallest factor (of a few)
        that leaves no more of the eyeball uncovered than the mean face's full blink does; 1 without eyes."""
        if not len(self.basis.eyeball_vertices) or len(self._blink) != 2:
            return 1.0
        key = np.asarray(id_coef, np.float32).tobytes()
        if key not in self._blink_scales:
            if not self._blink_scales.get(b"mean"):
                self._blink_scales[b"mean"] = self._uncovered_eyeball(np.zeros_like(id_coef), 1.0) + 10
            for scale in BLINK_SCALES:
                if self._uncovered_eyeball(id_coef, scale) <= self._blink_scales[b"mean"]:
                    break
            self._blink_scales[key] = scale
        return self._blink_scales[key]

    def scan(self, person: IdentitySpec, exp_w: np.ndarray, with_detail: bool = True):
        """Vertices (V', 3) mm, faces (F', 3) and 68 landmarks (68, 3) for one expression."""
        if len(self.basis.eyeball_vertices) and np.any(exp_w[self._blink] > 0):
            exp_w = exp_w.copy()
            exp_w[self._blink] *= self.blink_scale(person.id_coef)
        coarse = self.basis.shape(person.id_coef, exp_w)[self.keep].astype(np.float64)
        verts = self.plan.apply(coarse)
        if with_detail:
            normals = vertex_normals(verts, self.plan.faces)
            disp = self.details.displacement(person.detail, exp_w, self.basis.exp_names)
            verts = verts + disp[:, None] * normals
        landmarks = verts[self.basis.landmarks68]
        return verts.astype(np.float32), self.plan.faces, landmarks.astype(np.float32)


def scan_weights(person: IdentitySpec, names: list[str], exp_names: tuple[str, ...]) -> list[np.ndarray]:
    """Per-person variations of the named expressions (deterministic for the person)."""
    rng = np.random.default_rng(person.exp_rng_seed)
    return [expression_weights(name, exp_names, rng) for name in names]


def scan_filename(k: int, name: str) -> str:
    return f"{k + 1}_{name}"


# -- the command --------------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(face_model: str, levels: int) -> None:
    basis = load_face_basis(face_model)
    _WORKER["synth"] = ScanSynthesizer(basis, levels)


def _write_person(args) -> list[str]:
    person, names, out_dir = args
    synth: ScanSynthesizer = _WORKER["synth"]
    folder = Path(out_dir) / person.name
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for k, (name, w) in enumerate(zip(names, scan_weights(person, names, synth.basis.exp_names))):
        stem = scan_filename(k, name)
        if (folder / f"{stem}.ply").exists() and (folder / f"{stem}_landmarks.txt").exists():
            # Written by an earlier run that was stopped: each scan is drawn from the person's own seeds
            # and written atomically, landmarks last, so it is the scan this run would write.
            written.append(str(folder / f"{stem}.ply"))
            continue
        verts, faces, landmarks = synth.scan(person, w)
        write_ply_atomic(folder / f"{stem}.ply", trimesh.Trimesh(verts, faces, process=False))
        atomic_write_text(folder / f"{stem}_landmarks.txt", _landmark_text(landmarks))
        written.append(str(folder / f"{stem}.ply"))
    return written


def _landmark_text(landmarks: np.ndarray) -> str:
    return "\n".join(f"{x:.4f} {y:.4f} {z:.4f}" for x, y, z in landmarks) + "\n"


def synthesize(
    face_model: str | Path,
    out_dir: str | Path,
    identities: int,
    expressions: int,
    seed: int,
    sigma: float = 1.0,
    jobs: int = 1,
    levels: int = 2,
    progress=None,
) -> dict:
    """Write ``identities`` x ``expressions`` scans and the manifest; returns the manifest."""
    if not 1 <= expressions <= len(EXPRESSION_NAMES):
        raise ValueError(f"--expressions must be between 1 and {len(EXPRESSION_NAMES)}")
    if identities < 1:
        raise ValueError("--identities must be at least 1")
    basis = load_face_basis(face_model)
    names = list(EXPRESSION_NAMES[:expressions])
    people = draw_identities(identities, seed, basis.id_basis.shape[0], sigma)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format": MANIFEST_FORMAT,
        "face_model": str(face_model),
        "seed": seed,
        "sigma": sigma,
        "subdivision_levels": levels,
        "expressions": names,
        "identities": [
            {
                "name": p.name,
                "id_coef": [round(float(c), 6) for c in p.id_coef],
                "detail": {"seed": p.detail.seed, "age": p.detail.age},
                "scans": [
                    {
                        "file": f"{p.name}/{scan_filename(k, n)}.ply",
                        "expression": n,
                        "weights": {basis.exp_names[i]: round(float(x), 6) for i, x in enumerate(w) if x > 0},
                    }
                    for k, (n, w) in enumerate(zip(names, scan_weights(p, names, basis.exp_names)))
                ],
            }
            for p in people
        ],
    }
    del basis
    tasks = [(p, names, str(out_dir)) for p in people]
    jobs = max(1, min(jobs, len(tasks)))
    if jobs == 1:
        _init_worker(str(face_model), levels)
        results = map(_write_person, tasks)
        _consume(results, expressions, progress)
    else:
        with ProcessPoolExecutor(jobs, initializer=_init_worker, initargs=(str(face_model), levels)) as pool:
            _consume(pool.map(_write_person, tasks), expressions, progress)
    atomic_write_text(out_dir / MANIFEST_NAME, json.dumps(manifest, indent=1))
    return manifest


def _consume(results, per_item: int, progress) -> None:
    for _ in results:
        if progress is not None:
            progress(per_item)


def default_jobs() -> int:
    """Every CPU core this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
