"""Load a user's scan: meshes (OBJ, PLY, STL, OFF, GLB/glTF) and point clouds (PLY, XYZ), in millimetres.

Every problem a user can cause gets a ``ScanError`` that names the file and the
reason (missing, empty, unreadable, NaNs, too few points); fixable ones (a few
NaN vertices, millions of faces, other units) are fixed and reported in
``Scan.warnings``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imface_core.errors import ScanError

logger = logging.getLogger(__name__)

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off", ".glb", ".gltf")
POINT_SUFFIXES = (".xyz", ".pts", ".txt", ".csv")
MIN_POINTS = 500
"""A mesh with fewer vertices than this cannot describe a face (its surface is sampled, not its vertices)."""
MIN_CLOUD_POINTS = 3000
"""Fewest points of a point cloud that can be fitted: the alignment needs a scan point within 4 mm of most of
the model's face. Measured on the FaceFuns head scans f18, f36 and m56 (~200 mm across, their vertices
randomly subsampled, two draws each): with 2000 points every draw failed (56-57 % of the face matched, 65 %
needed), with 2500 the draws of f18 failed (63-65 %), with 3000 all passed (69-75 %, 1.3-1.8 degrees and
0.5-1.7 mm from the full scan's alignment)."""
MAX_NAN_FRACTION = 0.01
"""Up to this share of NaN/inf vertices is dropped with a warning; more is an error."""
MAX_FACES = 1_500_000
"""Meshes above this are simplified by vertex clustering (with a message)."""
MAX_POINTS = 1_000_000
"""Point clouds above this are randomly subsampled (with a message)."""
TYPICAL_SIZE_MM = 250.0
"""Robust extent of a typical face/head scan; auto units pick the power of ten closest to it."""
PLAUSIBLE_SIZE_MM = (60.0, 2500.0)
MM_RANGE = (50.0, 2500.0)
"""Robust extents (file units) taken as millimetres by ``--units auto``: a face crop up to a whole body."""

MIN_LANDMARK_GAP = 0.05
"""Two of the five landmarks (eye corners, nose tip, mouth corners) closer than this share of their largest
distance coincide (on a face the closest pair is about a third of the largest distance apart)."""
MIN_LANDMARK_WIDTH = 0.1
"""The five landmarks' second principal extent must be at least this share of the first (about 0.9 on the
test faces: eye corners as wide as eyes to mouth are high); less is a line, not a face."""
LANDMARK_SPREAD_FACTOR = 3.0
"""Landmarks spread more than this factor wider or narrower than the model's face landmarks (in mm, after
units) are in other units than the scan, or are not a face's."""
FIVE_LANDMARK_NAMES = ("the right eye's outer corner", "the left eye's outer corner", "the nose tip",
                       "the right mouth corner", "the left mouth corner")

UNITS = {"mm": 1.0, "cm": 10.0, "dm": 100.0, "m": 1000.0, "in": 25.4, "um": 0.001}
"""Millimetres per unit for ``--units``."""
_POWER_NAMES = {-3: "um (or a mesh scaled by 1000)", -2: "10 um", -1: "0.1 mm", 0: "mm", 1: "cm", 2: "dm", 3: "m"}




@dataclass
class Scan:
    """A scan in millimetres. ``faces`` is None for a point cloud."""

    vertices: np.ndarray
    """(N, 3) float64, millimetres."""
    faces: np.ndarray | None
    """(F, 3) int64 or None."""
    source: str = "<memory>"
    units: str = "mm"
    """Unit of the file's coordinates (given or detected)."""
    mm_per_unit: float = 1.0
    """Factor applied to the file's coordinates to get millimetres."""
    landmarks: np.ndarray | None = None
    """(68, 3) or (5, 3) landmarks in millimetres, when given."""
    warnings: list[str] = field(default_factory=list)
    landmarks_source: str = ""
    """Where the landmarks came from (their file), for messages."""

    @property
    def is_point_cloud(self) -> bool:
        return self.faces is None

    def warn(self, message: str) -> None:
        logger.warning(message)
        self.warnings.append(message)


def robust_extent(points: np.ndarray) -> float:
    """Largest 1st-99th percentile range over the three axes (ignores a few outliers)."""
    lo, hi = np.percentile(points, [1, 99], axis=0)
    return float((hi - lo).max())


def detect_units(points: np.ndarray) -> tuple[float, str]:
    """(mm per unit, unit name). Anything from a face to a whole body in millimetres is taken as
    millimetres; otherwise the power of ten that makes the scan about a head's size (cm, dm, m, or a
    mesh scaled by 1000)."""
    extent = robust_extent(points)
    if not extent > 0:
        raise ScanError("all points coincide: the scan has no extent")
    if MM_RANGE[0] <= extent <= MM_RANGE[1]:
        return 1.0, "mm"
    power = int(round(math.log10(TYPICAL_SIZE_MM / extent)))
    return 10.0**power, _POWER_NAMES.get(power, f"1e{power} mm")


HINT_SIZE_MM = (100.0, 600.0)
"""Units that make a scan this size (a face crop to a head and shoulders) are suggested in unit messages."""


def units_hint(extent: float, assumed: str) -> str:
    """" (e.g. --units in: 254 mm across)": the other ``UNITS`` that would make a scan of ``extent`` file units
    face-sized, for messages; "" when none would."""
    fits = [f"--units {u}: {extent * k:.0f} mm across" for u, k in UNITS.items()
            if u != assumed and HINT_SIZE_MM[0] <= extent * k <= HINT_SIZE_MM[1]]
    return f" (e.g. {'; '.join(fits)})" if fits else ""


def _read_xyz(path: Path) -> np.ndarray:
    rows = []
    with open(path, "r", errors="replace") as fh:
        for line in fh:
            parts = line.replace(",", " ").split()
            if not parts or parts[0].startswith(("#", "//")):
                continue
            try:
                rows.append([float(v) for v in parts[:3]])
            except ValueError:
                raise ScanError(f"`{path}`: not a point list (line {len(rows) + 1}: {line.strip()[:60]!r})") from None
            if len(rows[-1]) < 3:
                raise ScanError(f"`{path}`: each line needs x y z (line {len(rows)}: {line.strip()[:60]!r})")
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def _read_with_trimesh(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    import trimesh

    try:
        loaded = trimesh.load(path, process=False)
    except Exception as exc:  # trimesh raises many types for a bad file
        raise ScanError(f"`{path}` could not be read as a mesh or point cloud ({type(exc).__name__}: {str(exc)[:150]})") from exc
    if isinstance(loaded, trimesh.Scene):
        geoms = [g for g in loaded.dump() if isinstance(g, (trimesh.Trimesh, trimesh.PointCloud))]
        meshes = [g for g in geoms if isinstance(g, trimesh.Trimesh) and len(g.faces)]
        if meshes:
            loaded = trimesh.util.concatenate(meshes) if len(meshes) > 1 else meshes[0]
        elif geoms:
            loaded = trimesh.PointCloud(np.concatenate([np.asarray(g.vertices) for g in geoms]))
        else:
            raise ScanError(f"`{path}` holds no geometry (an empty scene)")
    if isinstance(loaded, trimesh.Trimesh):
        if path.suffix.lower() == ".stl":  # STL stores every triangle's corners separately
            loaded.merge_vertices()
        faces = np.asarray(loaded.faces, dtype=np.int64).reshape(-1, 3)
        return np.asarray(loaded.vertices, dtype=np.float64).reshape(-1, 3), faces if len(faces) else None
    if isinstance(loaded, trimesh.PointCloud):
        return np.asarray(loaded.vertices, dtype=np.float64).reshape(-1, 3), None
    raise ScanError(f"`{path}` is not a triangle mesh or point cloud (got {type(loaded).__name__})")


def cluster_vertices(vertices: np.ndarray, faces: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Vertex-clustering simplification: merge vertices per cubic cell, drop collapsed/duplicate faces."""
    keys = np.floor(vertices / cell).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(first), 3))
    np.add.at(sums, inverse, vertices)
    counts = np.bincount(inverse, minlength=len(first))[:, None]
    new_faces = inverse[faces]
    ok = (new_faces[:, 0] != new_faces[:, 1]) & (new_faces[:, 1] != new_faces[:, 2]) & (new_faces[:, 0] != new_faces[:, 2])
    new_faces = new_faces[ok]
    _, uniq = np.unique(np.sort(new_faces, axis=1), axis=0, return_index=True)
    return sums / counts, new_faces[np.sort(uniq)]


def read_landmarks(path: str | Path) -> np.ndarray:
    """68 (iBUG) or 5 (eye corners, nose tip, mouth corners) landmarks, one ``x y z`` per line."""
    path = Path(path)
    if not path.is_file():
        raise ScanError(f"landmark file not found: `{path}`")
    try:
        lm = np.loadtxt(path, dtype=np.float64, ndmin=2, delimiter=None)
    except ValueError as exc:
        raise ScanError(f"`{path}`: unreadable landmarks ({exc})") from exc
    if lm.shape[1] < 3 or lm.shape[0] not in (5, 68):
        raise ScanError(f"`{path}`: expected 68 (iBUG) or 5 landmarks with x y z each, got shape {lm.shape}")
    lm = lm[:, :3]
    if not np.isfinite(lm).all():
        raise ScanError(f"`{path}`: landmarks contain NaN or infinite values")
    check_landmark_shape(lm, f"`{path}`")
    return lm


def five_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """The five landmarks the fit uses (eye corners, nose tip, mouth corners) of a (68|5, 3) set."""
    from imface_core.model.objective import LANDMARKS5  # imface_core.model loads torch

    lm = np.asarray(landmarks, dtype=np.float64)
    return lm[LANDMARKS5] if len(lm) == 68 else lm


def check_landmark_shape(landmarks: np.ndarray, source: str) -> None:
    """``ScanError`` naming ``source`` when the five landmarks coincide or lie on a line (unit-free checks)."""
    five = five_landmarks(landmarks)
    gaps = np.linalg.norm(five[:, None] - five[None], axis=2)
    span = float(gaps.max())
    if not span > 0:
        point = ", ".join(f"{v:g}" for v in five[0])
        raise ScanError(f"{source}: the landmarks all lie on one point ({point}); give the eye corners, nose tip and "
                        "mouth corners of the scan (68 iBUG or those 5, one x y z per line)")
    i, j = np.unravel_index(np.argmin(np.where(np.eye(len(five), dtype=bool), np.inf, gaps)), gaps.shape)
    if gaps[i, j] < MIN_LANDMARK_GAP * span:
        raise ScanError(f"{source}: {FIVE_LANDMARK_NAMES[i]} and {FIVE_LANDMARK_NAMES[j]} coincide ({gaps[i, j]:.3g} "
                        f"apart while the landmarks span {span:.3g}); the landmarks are not a face's: check their "
                        "order (68 iBUG or 5: eye corners, nose tip, mouth corners)")
    extents = np.linalg.svd(five - five.mean(axis=0), compute_uv=False)
    if extents[1] < MIN_LANDMARK_WIDTH * extents[0]:
        raise ScanError(f"{source}: the landmarks lie on a line (their width across it is {extents[1] / extents[0]:.2g} "
                        "of their length); a face's eye corners, nose tip and mouth corners span a plane")


def check_landmark_spread(scan: "Scan", reference_mm: np.ndarray) -> None:
    """``ScanError`` when ``scan``'s landmarks (mm, after units) spread more than ``LANDMARK_SPREAD_FACTOR``
    times wider or narrower than ``reference_mm``, the model's five face landmarks in mm."""
    if scan.landmarks is None:
        return
    spread = _rms_spread(five_landmarks(scan.landmarks))
    typical = _rms_spread(reference_mm)
    ratio = spread / typical
    if not 1.0 / LANDMARK_SPREAD_FACTOR <= ratio <= LANDMARK_SPREAD_FACTOR:
        source = scan.landmarks_source or f"the landmarks of `{scan.source}`"
        size = "larger" if ratio > 1 else "smaller"
        raise ScanError(
            f"{source}: the landmarks lie {spread:.3g} mm from their centre on average with the scan's units taken "
            f"as {scan.units}, a face's {typical:.0f} mm: {max(ratio, 1 / ratio):.3g}x {size} than a face. Give the "
            f"landmarks in the scan's own units, and --units if the scan is not in {scan.units}")


def _rms_spread(points: np.ndarray) -> float:
    p = np.asarray(points, dtype=np.float64)
    return float(np.sqrt(((p - p.mean(axis=0)) ** 2).sum(axis=1).mean()))


def load_scan(
    path: str | Path,
    units: str = "auto",
    landmarks: str | Path | np.ndarray | None = None,
    max_faces: int = MAX_FACES,
    max_points: int = MAX_POINTS,
    seed: int = 0,
) -> Scan:
    """Read a scan file and return it in millimetres, validated.

    Args:
        path: OBJ, PLY, STL, OFF, GLB or glTF mesh, or PLY / XYZ point cloud.
        units: ``auto`` (the power of ten that makes it head-sized), or one of ``UNITS``.
        landmarks: optional landmark file or (68|5, 3) array, in the scan's own units.
        max_faces / max_points: larger inputs are simplified / subsampled, with a warning.
        seed: for the subsampling of huge point clouds.
    Raises:
        ScanError: the file is missing, empty, unreadable, has too few points or too many NaNs.
    """
    path = Path(path)
    if not path.exists():
        raise ScanError(f"scan file not found: `{path}`")
    if path.is_dir():
        raise ScanError(f"`{path}` is a folder, not a scan file")
    if path.stat().st_size == 0:
        raise ScanError(f"`{path}` is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix in POINT_SUFFIXES:
        vertices, faces = _read_xyz(path), None
    elif suffix in MESH_SUFFIXES:
        vertices, faces = _read_with_trimesh(path)
    else:
        raise ScanError(f"`{path}`: unsupported file type `{suffix}` (use {', '.join(MESH_SUFFIXES + POINT_SUFFIXES)})")
    lm, lm_source = landmarks, None
    if isinstance(landmarks, (str, Path)):
        lm, lm_source = read_landmarks(landmarks), f"`{landmarks}`"
    return scan_from_arrays(vertices, faces, source=str(path), units=units, landmarks=lm, max_faces=max_faces,
                            max_points=max_points, seed=seed, landmarks_source=lm_source)


def scan_from_arrays(
    vertices: np.ndarray,
    faces: np.ndarray | None = None,
    source: str = "<memory>",
    units: str = "auto",
    landmarks: np.ndarray | None = None,
    max_faces: int = MAX_FACES,
    max_points: int = MAX_POINTS,
    seed: int = 0,
    landmarks_source: str | None = None,
) -> Scan:
    """Validate arrays as a scan (see ``load_scan``); ``vertices`` and ``landmarks`` in the given ``units``.
    ``landmarks_source`` names the landmarks in messages (default: "the landmarks of SOURCE")."""
    name = f"`{source}`"
    landmarks_source = landmarks_source or f"the landmarks of {name}"
    if landmarks is not None:
        landmarks = np.asarray(landmarks, dtype=np.float64)
        if landmarks.ndim != 2 or landmarks.shape[1] != 3 or landmarks.shape[0] not in (5, 68):
            raise ScanError(f"{landmarks_source}: expected 68 (iBUG) or 5 points with x y z each, got shape "
                            f"{landmarks.shape}")
        if not np.isfinite(landmarks).all():
            raise ScanError(f"{landmarks_source}: landmarks contain NaN or infinite values")
        check_landmark_shape(landmarks, landmarks_source)
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.size == 0:
        raise ScanError(f"{name} holds no vertices (an empty mesh or point cloud)")
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ScanError(f"{name}: vertices must have shape (N, 3), got {vertices.shape}")
    faces = None if faces is None or len(faces) == 0 else np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    warnings: list[str] = []
    if faces is not None and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ScanError(f"{name}: faces index vertices that do not exist")
    bad = ~np.isfinite(vertices).all(axis=1)
    if bad.any():
        share = bad.mean()
        if share > MAX_NAN_FRACTION:
            raise ScanError(f"{name}: {bad.sum()} of {len(vertices)} vertices ({100 * share:.1f}%) are NaN or infinite")
        warnings.append(f"{name}: dropped {bad.sum()} vertices with NaN or infinite coordinates")
        keep = np.flatnonzero(~bad)
        remap = np.full(len(vertices), -1, dtype=np.int64)
        remap[keep] = np.arange(len(keep))
        if faces is not None:
            faces = remap[faces[(~bad[faces]).all(axis=1)]]
        vertices = vertices[keep]
    if faces is not None:
        used = np.unique(faces)
        if len(used) < len(vertices):  # unreferenced vertices (e.g. an isolated point set in an OBJ)
            remap = np.full(len(vertices), -1, dtype=np.int64)
            remap[used] = np.arange(len(used))
            vertices, faces = vertices[used], remap[faces]
    if faces is None and len(vertices) < MIN_CLOUD_POINTS:
        raise ScanError(f"{name}: a point cloud of only {len(vertices):,} points; fitting needs at least "
                        f"{MIN_CLOUD_POINTS:,}: with fewer, the points of a head-sized scan lie too far apart (over "
                        "~4 mm) for the model's face to be matched to them. Give a denser cloud or a mesh")
    if faces is not None and len(vertices) < MIN_POINTS:
        raise ScanError(f"{name}: a mesh of only {len(vertices)} vertices; a face scan needs at least {MIN_POINTS}")

    if units == "auto":
        mm_per_unit, unit_name = detect_units(vertices)
        if mm_per_unit != 1.0:
            extent = robust_extent(vertices)
            warnings.append(
                f"{name}: the scan is {extent:.4g} units across (1st-99th percentile), too "
                f"{'small' if extent < MM_RANGE[0] else 'large'} for millimetres; taking its units as {unit_name} "
                f"(x{mm_per_unit:g}: {extent * mm_per_unit:.0f} mm across). If that is wrong, pass --units"
                f"{units_hint(extent, unit_name)}"
            )
    else:
        if units not in UNITS:
            raise ScanError(f"unknown units `{units}`: choose auto or one of {', '.join(UNITS)}")
        mm_per_unit, unit_name = UNITS[units], units
        extent = robust_extent(vertices)
        size = extent * mm_per_unit
        if not PLAUSIBLE_SIZE_MM[0] <= size <= PLAUSIBLE_SIZE_MM[1]:
            warnings.append(f"{name}: in {units} the scan is {size:.4g} mm across, not the size of a face; check "
                            f"--units{units_hint(extent, unit_name)}")
    vertices = vertices * mm_per_unit
    if landmarks is not None:
        landmarks = np.asarray(landmarks, dtype=np.float64) * mm_per_unit

    if faces is not None and len(faces) > max_faces:
        # Vertex clustering: the cell that brings the face count under the limit (faces ~ 1 / cell^2).
        spacing = np.median(np.linalg.norm(vertices[faces[:, 0]] - vertices[faces[:, 1]], axis=1))
        cell = max(spacing, 1e-6) * math.sqrt(len(faces) / max_faces) * 1.2
        n_before = len(faces)
        for _ in range(6):
            v2, f2 = cluster_vertices(vertices, faces, cell)
            if len(f2) <= max_faces:
                break
            cell *= 1.4
        vertices, faces = v2, f2
        warnings.append(f"{name}: {n_before:,} faces is more than needed; simplified to {len(faces):,} "
                        f"by merging vertices within {cell:.2f} mm")
    elif faces is None and len(vertices) > max_points:
        rng = np.random.default_rng(seed)
        n_before = len(vertices)
        vertices = vertices[np.sort(rng.choice(len(vertices), max_points, replace=False))]
        warnings.append(f"{name}: {n_before:,} points is more than needed; using a random {max_points:,}")
    scan = Scan(vertices, faces, source, unit_name, mm_per_unit, landmarks, landmarks_source=landmarks_source)
    for w in warnings:
        scan.warn(w)
    return scan
