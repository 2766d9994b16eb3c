"""Cross-dataset faces from the MakeHuman base mesh and its targets (another topology, other expression units).

Each face: the base body skin + a few random face-shape targets + at most one
expression target, in millimetres; the head is cut out with a sphere around the
nose tip. The nose tip (the only landmark prep's normalisation needs) is found
automatically: the front-most vertex of the top of the body. The ground truth is
that head put through prep's normalisation, crop and pseudo-watertight steps;
the fit sees the cut head alone, without landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imface_core.data.height_field import pseudo_watertight
from imface_core.data.normalize import crop_unit_sphere, normalising_translation, to_normalised
from imface_core.engine.cleanup import compact

DEFAULT_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "makehuman" / "mh_face_targets.npz"
SKIN_VERTICES = 13_380
MM_PER_UNIT = 100.0  # decimetres
HEAD_TOP_MM = 250.0
"""The nose tip is searched in this top slice of the body."""
CUT_RADIUS_MM = 150.0
"""The head cut: everything within this distance of the nose tip."""


@dataclass
class MakeHumanFace:
    name: str
    vertices: np.ndarray
    """(V, 3) mm, MakeHuman's frame (y up, +z forward), the cut head."""
    faces: np.ndarray
    nose_tip: np.ndarray
    """(3,) mm, found automatically."""
    recipe: dict

    def ground_truth(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(vertices, faces) of the pseudo-watertight face in normalised units and the mm translation of prep."""
        import trimesh

        shift = normalising_translation(self.nose_tip)
        points, crop_faces = crop_unit_sphere(to_normalised(self.vertices, shift), self.faces)
        normals = trimesh.Trimesh(points, crop_faces, process=False).vertex_normals
        v, f = pseudo_watertight(points, crop_faces, normals)
        return v, f, shift


def find_nose_tip(vertices_mm: np.ndarray) -> np.ndarray:
    """Front-most (+z) vertex in the top ``HEAD_TOP_MM`` of the body."""
    head = vertices_mm[vertices_mm[:, 1] > vertices_mm[:, 1].max() - HEAD_TOP_MM]
    return head[head[:, 2].argmax()]


def makehuman_faces(path: str | Path = DEFAULT_PATH, count: int = 4, seed: int = 0,
                    shape_targets: int = 3) -> list[MakeHumanFace]:
    """``count`` faces: the first is the plain base, the others add random shape and expression targets."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MakeHuman targets not found: `{path}`")
    rng = np.random.default_rng(seed)
    with np.load(path) as d:
        base = d["base"][:SKIN_VERTICES].astype(np.float64)
        tris = d["tris"].astype(np.int64)
        exp_names = [str(n) for n in d["exp_names"]]
        shape_names = [str(n) for n in d["shape_names"]]
        # Face-shape groups (one target per group, so incr/decr never meet), ears excluded (outside the crop).
        groups: dict[str, list[int]] = {}
        for i, n in enumerate(shape_names):
            if n.split("/")[0] in ("cheek", "chin", "mouth", "nose", "eyebrows", "forehead", "eyes"):
                groups.setdefault(n.rsplit("-", 1)[0], []).append(i)
        keys = sorted(groups)
        faces_out = []
        for k in range(count):
            v = base.copy()
            recipe: dict = {"shape": {}, "expression": None}
            if k > 0:
                for g in rng.choice(len(keys), min(shape_targets, len(keys)), replace=False):
                    idx = int(rng.choice(groups[keys[g]]))
                    w = float(rng.uniform(0.3, 0.8))
                    v += w * d["shape"][idx][:SKIN_VERTICES]
                    recipe["shape"][shape_names[idx]] = round(w, 3)
                if k % 2 == 0:
                    e = int(rng.integers(len(exp_names)))
                    w = float(rng.uniform(0.5, 1.0))
                    v += w * d["exp"][e][:SKIN_VERTICES]
                    recipe["expression"] = {exp_names[e]: round(w, 3)}
            mm = v * MM_PER_UNIT
            tip = find_nose_tip(mm)
            keep = np.linalg.norm(mm - tip, axis=1) < CUT_RADIUS_MM
            fv, ff = compact(mm, tris[keep[tris].all(axis=1)])
            faces_out.append(MakeHumanFace(f"mh_{k:02d}", fv, ff, tip, recipe))
    return faces_out
