"""How local the region edits are: per region, how far the surface outside it moves and whether its edge creases.

For each region of ``imface_core.local_edit.REGIONS`` the face (a training person, neutral) takes that
region from another person (z_id and z_det, moved onto the face's region as the editor's "Take from" does) and
both faces are meshed at full detail. Printed per region:

- outside: movement of the edited surface where the region's mask is 0 (beyond its band), max and p99, mm
  (distance of each vertex to the unedited surface, point-to-plane at the nearest vertex);
- inside: mean movement where the mask is 1 (how much the edit changed the region itself), mm;
- crease: p99 angle between neighbouring triangles in the band (0 < mask < 1), degrees, of the edited face,
  the unedited face and the source face (the band found on each by its own template coordinates): a crease
  at the edge would lift the edited face's above both;
- slices: the other way to edit a region, the 16-d slices of z_id that feed the region's mini-nets of the
  blend field replaced by the other person's: movement outside, p95 and max, mm.

    .venv/bin/python benchmarks/region_locality.py [--model resources/imface_compact.pt] [--resolution 128]
"""

from __future__ import annotations

import argparse

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from imface_core.engine.field import FaceField
from imface_core.local_edit import REGIONS, region_anchors, region_weight
from imface_core.face_codes import FaceCodes, RegionEdit
from imface_core.face_model import FaceModel
from imface_core.model.objective import LANDMARKS5

MM = 100.0


def surface_distance(points: np.ndarray, mesh: trimesh.Trimesh) -> np.ndarray:
    """(N,) distance of points to ``mesh``: point-to-plane at the nearest vertex (exact on a flat patch)."""
    v = np.asarray(mesh.vertices)
    _, nearest = cKDTree(v).query(points)
    return np.abs(np.einsum("ij,ij->i", points - v[nearest], np.asarray(mesh.vertex_normals)[nearest]))


def dihedral_degrees(mesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """(angle between the two triangles of each inner edge in degrees, the edge's two vertex indices)."""
    angles = np.degrees(mesh.face_adjacency_angles)
    return angles, mesh.face_adjacency_edges


def slice_codes(codes: FaceCodes, other: FaceCodes, region: str, template68: np.ndarray, k: int) -> FaceCodes:
    """``codes`` with the z_id slices of the mini-nets anchored nearest ``region`` taken from ``other``."""
    anchors = region_anchors(region, template68)
    lm5 = template68[LANDMARKS5]
    near = np.unique(cKDTree(lm5).query(anchors)[1])
    z = np.array(codes.z_id, copy=True)
    width = len(z) // k
    for i in near:
        z[i * width:(i + 1) * width] = other.z_id[i * width:(i + 1) * width]
    return codes.replace(z_id=z)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resources/imface_compact.pt")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--face", type=int, default=0, help="training person whose face is edited")
    parser.add_argument("--source", type=int, default=7, help="training person the region is taken from")
    args = parser.parse_args()
    model = FaceModel.load(args.model)
    template68 = model.net.template_landmarks68.cpu().numpy().astype(np.float64)
    base = model.codes(args.face, "neutral")
    other = model.codes(args.source, "neutral")

    def mesh(codes: FaceCodes) -> trimesh.Trimesh:
        return model.mesh(codes, args.resolution, detail=True, method="displace")

    unedited, source = mesh(base), mesh(other)
    base_face, other_face = FaceField(model, base, detail=False), FaceField(model, other, detail=False)
    print(f"face {model.identities[args.face]}, regions from {model.identities[args.source]}, "
          f"resolution {args.resolution}, full detail\n")
    print("| region | outside max (mm) | outside p99 (mm) | inside mean (mm) | band p99 angle: edited / unedited / "
          "source (deg) "
          "| slices: outside p95 / max (mm) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, region in REGIONS.items():
        anchors = region_anchors(name, template68)

        def weight(points: np.ndarray, face: FaceField = base_face) -> np.ndarray:
            return region_weight(face.warp(np.asarray(points, dtype=np.float32)).astype(np.float64), anchors,
                                 region.inner, region.outer)

        def band_angle(m: trimesh.Trimesh, face: FaceField = base_face) -> float:
            angles, edges = dihedral_degrees(m)
            w = weight(np.asarray(m.vertices), face)[edges]
            return float(np.percentile(angles[((w > 0) & (w < 1)).all(axis=1)], 99))

        edit = RegionEdit(name, z_id=other.z_id, z_det=other.z_det, align=True)
        edited = mesh(FaceCodes(base.z_id, base.z_exp, base.z_det, (edit,)))
        v = np.asarray(edited.vertices, dtype=np.float64)
        w = weight(v)
        moved = surface_distance(v, unedited) * MM
        outside, inside = moved[w == 0.0], moved[w >= 1.0]
        sliced = mesh(slice_codes(base, other, name, template68, model.config.num_regions))
        vs = np.asarray(sliced.vertices, dtype=np.float64)
        slice_out = surface_distance(vs[weight(vs) == 0.0], unedited) * MM
        print(f"| {region.label} | {outside.max():.3f} | {np.percentile(outside, 99):.3f} | {inside.mean():.2f} | "
              f"{band_angle(edited):.1f} / {band_angle(unedited):.1f} / {band_angle(source, other_face):.1f} | "
              f"{np.percentile(slice_out, 95):.2f} / {slice_out.max():.2f} |", flush=True)


if __name__ == "__main__":
    main()
