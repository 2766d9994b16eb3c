"""Prepared scans as training batches: points per scan with identity, scan and landmark info.

A ``DATA_DIR`` holds ``<identity>/<k>_<expression>.npz`` files made by
``imface prep`` (either file format, see ``prepared.py``; arrays are float32 in memory). Identity indices follow the sorted folder names; the
expression of a scan comes from its file name. The neutral scan of each
identity (the ``neutral`` expression, else the lowest k) supplies the
"neutral-scan landmarks" of the landmark losses.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imface_core.data.prepared import missing_keys, read_arrays
from imface_core.errors import DatasetError

SCAN_FILE = re.compile(r"^(\d+)_([A-Za-z0-9_\-]+)\.npz$")
REQUIRED_KEYS = ("surface_points", "surface_normals", "free_points", "free_sdf", "free_grad", "landmarks")




@dataclass(frozen=True)
class ScanInfo:
    identity: str
    expression: str
    k: int
    path: Path


def list_scans(data_dir: str | Path) -> list[ScanInfo]:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"data folder not found: `{data_dir}` (make one with `imface prep`)")
    scans = []
    for folder in sorted(p for p in data_dir.iterdir() if p.is_dir()):
        for f in folder.iterdir():
            m = SCAN_FILE.match(f.name)
            if m:
                scans.append(ScanInfo(folder.name, m.group(2), int(m.group(1)), f))
    if not scans:
        raise DatasetError(f"`{data_dir}` holds no prepared scans (<identity>/<k>_<expression>.npz); run `imface prep`")
    return sorted(scans, key=lambda s: (s.identity, s.k))


def split_identities(identities: list[str], test_fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Deterministic train/test split by identity."""
    order = np.random.default_rng(seed).permutation(len(identities))
    n_test = int(round(len(identities) * test_fraction))
    test = sorted(identities[i] for i in order[:n_test])
    return [i for i in identities if i not in test], test


def _load_npz(path: Path, max_surface: int | None, rng: np.random.Generator) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as data:
            missing = missing_keys(data.files, REQUIRED_KEYS)
            if missing:
                raise DatasetError(f"{path}: missing arrays {missing}; re-run `imface prep`")
            arrays = read_arrays(data, REQUIRED_KEYS)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: unreadable ({exc}); delete it and re-run `imface prep`") from exc
    shapes = {
        "surface_points": (None, 3), "surface_normals": (None, 3), "free_points": (None, 3),
        "free_sdf": (None,), "free_grad": (None, 3), "landmarks": (68, 3),
    }
    for key, shape in shapes.items():
        a = arrays[key]
        if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
            raise DatasetError(f"{path}: `{key}` has shape {a.shape}, expected {shape}")
        if not np.isfinite(a).all():
            raise DatasetError(f"{path}: `{key}` contains NaN or infinite values")
    if len(arrays["surface_points"]) != len(arrays["surface_normals"]) or len(arrays["surface_points"]) < 16:
        raise DatasetError(f"{path}: surface points and normals disagree or are too few")
    if max_surface and len(arrays["surface_points"]) > max_surface:
        keep = rng.choice(len(arrays["surface_points"]), max_surface, replace=False)
        arrays["surface_points"] = arrays["surface_points"][keep]
        arrays["surface_normals"] = arrays["surface_normals"][keep]
    return arrays


def load_landmarks(path: Path) -> np.ndarray:
    """Only the (68, 3) landmarks of a scan; a bad file is a DatasetError naming it."""
    try:
        with np.load(path) as data:
            if "landmarks" not in data:
                raise DatasetError(f"{path}: missing arrays ['landmarks']; re-run `imface prep`")
            landmarks = np.asarray(data["landmarks"], dtype=np.float32)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: unreadable ({exc}); delete it and re-run `imface prep`") from exc
    if landmarks.shape != (68, 3):
        raise DatasetError(f"{path}: `landmarks` has shape {landmarks.shape}, expected (68, 3)")
    return landmarks


class FaceScanDataset:
    """All scans of a split in memory; ``batch()`` draws points from a set of scans.

    ``split``: "all", "train" or "test" (by identity, ``test_fraction`` of them).
    ``scan_subset``: only these scan indices (a distributed rank's share).
    """

    def __init__(
        self,
        data_dir: str | Path,
        split: str = "all",
        test_fraction: float = 0.0,
        split_seed: int = 0,
        max_surface_points: int | None = None,
        progress=None,
        load_only: set[int] | None = None,
    ):
        if split not in ("all", "train", "test"):
            raise ValueError(f"split must be all, train or test, not `{split}`")
        scans = list_scans(data_dir)
        identities = sorted({s.identity for s in scans})
        if split != "all":
            train, test = split_identities(identities, test_fraction, split_seed)
            identities = train if split == "train" else test
            scans = [s for s in scans if s.identity in identities]
        if not scans:
            raise DatasetError(f"`{data_dir}`: split `{split}` has no scans")
        self.data_dir = Path(data_dir)
        self.scans = scans
        self.identities = identities
        self.identity_index = np.array([identities.index(s.identity) for s in scans], dtype=np.int64)
        rng = np.random.default_rng(split_seed)
        # Every scan's landmarks are needed (neutral-scan lookups); points only for ``load_only``.
        self.arrays: list[dict[str, np.ndarray] | None] = []
        landmarks = []
        for i, s in enumerate(scans):
            if load_only is None or i in load_only:
                self.arrays.append(_load_npz(s.path, max_surface_points, rng))
                landmarks.append(self.arrays[-1]["landmarks"])
            else:
                self.arrays.append(None)
                landmarks.append(load_landmarks(s.path))
            if progress is not None:
                progress(1)
        self.landmarks = np.stack(landmarks)
        self.neutral_scan = np.array([self._neutral_of(i) for i in range(len(identities))], dtype=np.int64)
        self.is_neutral = np.zeros(len(scans), dtype=bool)
        self.is_neutral[self.neutral_scan] = True

    def _neutral_of(self, identity: int) -> int:
        own = np.flatnonzero(self.identity_index == identity)
        named = [i for i in own if self.scans[i].expression == "neutral"]
        return int(named[0] if named else min(own, key=lambda i: self.scans[i].k))

    def __len__(self) -> int:
        return len(self.scans)

    @property
    def expressions(self) -> list[str]:
        return sorted({s.expression for s in self.scans}, key=lambda e: min(s.k for s in self.scans if s.expression == e))

    def template_landmarks(self) -> np.ndarray:
        """Mean neutral-scan landmarks (68, 3): the template's fixed landmarks."""
        return self.landmarks[self.neutral_scan].mean(axis=0)

    def distinct_surface_points(self, scan: int, count: int, rng: np.random.Generator) -> np.ndarray:
        """``count`` different surface points of one scan (all it holds in memory, shuffled, if it holds fewer)."""
        points = self.arrays[scan]["surface_points"]
        return points[rng.permutation(len(points))[:count]]

    def batch(self, scan_ids: np.ndarray, n_surface: int, n_free: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Random points of each scan in ``scan_ids``, stacked into arrays with a leading scan axis."""
        out: dict[str, list] = {k: [] for k in ("surface", "normals", "free", "free_sdf", "free_grad")}
        for i in scan_ids:
            a = self.arrays[i]
            si = rng.integers(0, len(a["surface_points"]), n_surface)
            fi = rng.integers(0, len(a["free_points"]), n_free)
            out["surface"].append(a["surface_points"][si])
            out["normals"].append(a["surface_normals"][si])
            out["free"].append(a["free_points"][fi])
            out["free_sdf"].append(a["free_sdf"][fi])
            out["free_grad"].append(a["free_grad"][fi])
        batch = {k: np.stack(v) for k, v in out.items()}
        scan_ids = np.asarray(scan_ids, dtype=np.int64)
        batch.update(
            scan=scan_ids,
            identity=self.identity_index[scan_ids],
            landmarks=self.landmarks[scan_ids],
            neutral_landmarks=self.landmarks[self.neutral_scan[self.identity_index[scan_ids]]],
            is_neutral=self.is_neutral[scan_ids],
        )
        return batch
