"""Sparse (octree / narrow-band) marching cubes that reproduces dense-grid marching cubes.

The grid is the dense one of ``grid.py`` (N samples over [-1, 1]). Level stride S
groups it into cells of S x S x S fine cells (the last cell of an axis is shorter
when S does not divide N - 1). Extraction starts with every cell of the coarsest
level (about ``base_cells`` per axis), evaluates their corners and keeps a cell
only if the surface may pass through it:

* its corner values change sign, or
* every corner lies within ``lipschitz * diagonal(S)`` of zero and the centre within half of that (a
  1-Lipschitz SDF that is zero somewhere in the cell cannot be farther than the diagonal from any corner, nor
  than half of it from the centre; ``lipschitz`` > 1 is the safety factor for a learned SDF whose gradient is
  not exactly 1).

Kept cells are split into their 8 children at the next level, and so on down to
S = 1 (the cells of the dense grid). Only corners (and centres) of created cells
are ever evaluated. A discarded cell has one sign at all its corners; it is
remembered per level (``decided``), so the voxels that were never evaluated get
that sign (a safe fill) and marching cubes on the filled volume finds no surface
outside the band. Marching cubes itself is restricted to the sign-change cells
(skimage's cube mask), so its cost follows the surface, not the volume.

The last ``follow_levels`` levels (strides 2 and 1 by default) do not refine the
whole band: one seed cell per sign-change cell of the level above is found by
bisecting a crossed edge, and the surface is followed from the seeds across every
cell face it crosses (``track_level(mode="surface")``), evaluating only corners of
crossed cells. With ``follow_levels=0`` the mesh equals dense-grid marching cubes
at N whenever the SDF obeys the Lipschitz bound; with following it can lack only
surface pieces that never reach a sign change of the coarser level (isolated blobs
smaller than 2^follow_levels cells).

Every level is itself a (non-uniform) grid, so a coarse level gives a preview mesh
before the finer ones are computed (``iter_levels``). ``track_level`` rebuilds one
level for new codes starting from the previous surface (surface tracking), the
incremental path of ``progressive.py``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import trimesh

from imface_core.engine.chunks import DEFAULT_CHUNK, CancelToken, Field, check_cancel
from imface_core.engine.cleanup import MIN_PIECE_SHARE
from imface_core.engine.grid import cube_mask_offset, empty_mesh, grid_axis, grid_spacing, volume_to_mesh

log = logging.getLogger(__name__)

__all__ = [
    "ExtractionSettings",
    "FieldPlan",
    "LevelResult",
    "SparseGrid",
    "sparse_mesh",
]

_CORNERS = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=np.int64)  # (8, 3)
_CHILDREN = _CORNERS
_EDGES = np.array([[a, b] for a in range(8) for b in range(a + 1, 8) if np.abs(_CORNERS[a] - _CORNERS[b]).sum() == 1])
_NEIGHBOURS = np.array(
    [[a, b, c] for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) != (0, 0, 0)], dtype=np.int64
)  # (26, 3)


@dataclass(frozen=True)
class ExtractionSettings:
    """Knobs of the sparse extraction (defaults keep it exact on trained models)."""

    base_cells: int = 16
    """About this many cells per axis at the first, fully evaluated level (17^3 = 4913 points)."""
    lipschitz: float = 1.5
    """Safety factor on the band: a cell is kept when all corners are within lipschitz * diagonal of zero."""
    chunk: int = DEFAULT_CHUNK
    """Points per field call; cancellation is checked between chunks."""
    follow_levels: int = 2
    """The last this-many levels (strides 2 and 1 by default) are found by following the surface from one seed
    cell per sign-change cell of the level above, evaluating only the corners of cells the surface crosses
    (about 2x fewer evaluations than the band there). They miss only surface pieces that never reach a sign
    change of the coarser grid, i.e. isolated blobs smaller than 2^follow_levels cells. 0 = the full narrow
    band at every level (equal to dense marching cubes for any surface within the Lipschitz bound)."""
    min_piece_share: float = MIN_PIECE_SHARE
    """Faces (``face_mesh``, ``ProgressiveMesher``) drop their pieces smaller than this share of the triangles
    (stray blobs, ``cleanup.py``); 0 keeps every piece, as dense marching cubes does. ``sparse_mesh`` and the
    grid's level meshes never drop anything."""

    def __post_init__(self) -> None:
        if self.follow_levels < 0:
            raise ValueError(f"follow_levels must be >= 0, got {self.follow_levels}")


@dataclass(frozen=True)
class FieldPlan:
    """Which field evaluates which level.

    ``field`` is the SDF that is meshed (the fine SDF for full detail). ``guide`` (optional) is a cheaper SDF
    within ``guide_margin`` of it (the coarse SDF: the fine surface lies within detail_max of the coarse one)
    that evaluates the levels with stride > ``guide_stride``; their band is widened by the margin so the fine
    surface stays inside it.
    """

    field: Field
    name: str = "field"
    guide: Field | None = None
    guide_name: str = "guide"
    guide_margin: float = 0.0
    guide_stride: int = 4

    def for_stride(self, stride: int) -> tuple[str, Field, float]:
        if self.guide is not None and stride > self.guide_stride:
            return self.guide_name, self.guide, self.guide_margin
        return self.name, self.field, 0.0


@dataclass
class LevelResult:
    """One finished level of an extraction.

    cells are integer cell coordinates at this level (cell c spans fine indices [c*S, min((c+1)*S, N-1)]).
    """

    stride: int
    cells_per_axis: int
    store: str
    """Name of the field whose values this level used."""
    created: np.ndarray
    """(M, 3) cells whose corners were evaluated."""
    kept: np.ndarray
    """(K, 3) cells that may hold the surface (refined further)."""
    change: np.ndarray
    """(C, 3) cells whose corner values change sign (the cells with triangles at this level)."""
    decided: np.ndarray | None
    """(m, m, m) int8 per cell: 0 = kept, +1/-1 = the sign of a cell known to hold no surface. None at S = 1."""
    parent_decided: np.ndarray | None = None
    """The previous level's ``decided`` (used to fill voxels at S = 1, which has no array of its own)."""
    seconds: float = 0.0
    evaluated: int = 0
    """Field evaluations this level cost."""
    complete_band: bool = True
    """False for a level tracked in "surface" mode: ``kept`` is only the cells the surface crosses."""


class _Store:
    """Values of one field at fine-grid indices, evaluated lazily (dense arrays, reset by what was touched)."""

    def __init__(self, n: int, touch: bool = False):
        self.n = n
        self.values = np.zeros(n**3, dtype=np.float32)
        self.known = np.zeros(n**3, dtype=bool)
        if touch:  # map the pages now rather than during the first (interactive) evaluation
            self.values.fill(0.0)
            self.known.fill(False)
        self._touched: list[np.ndarray] = []
        self.key: str | None = None
        self.evaluations = 0

    def reset(self, key: str | None) -> None:
        for idx in self._touched:
            self.known[idx] = False
        self._touched.clear()
        self.key = key

    def ensure(self, field: Field, lin: np.ndarray, chunk: int, cancel: CancelToken | None) -> int:
        """Evaluate ``field`` where not known yet among linear indices ``lin`` (unique); returns how many."""
        missing = lin[~self.known[lin]]
        n = self.n
        h = grid_spacing(n)
        for s in range(0, len(missing), chunk):
            check_cancel(cancel)
            idx = missing[s : s + chunk]
            ijk = np.stack(np.unravel_index(idx, (n, n, n)), axis=1)
            pts = (ijk * h - 1.0).astype(np.float32)
            self.values[idx] = np.asarray(field(pts), dtype=np.float32).reshape(-1)
            self.known[idx] = True
            self._touched.append(idx)
            self.evaluations += len(idx)
        return len(missing)


class SparseGrid:
    """Sparse extraction state at one resolution: per-field value stores and the levels of the last run.

    Reusing one ``SparseGrid`` across requests reuses its memory, and its values when the field key is unchanged
    (``use_store``); ``levels`` hold the bands of the last run, which ``track_level`` starts from.
    """

    def __init__(self, resolution: int, settings: ExtractionSettings | None = None, max_stores: int = 3,
                 preallocate: bool = False):
        self.n = int(resolution)
        self.h = grid_spacing(self.n)
        self.settings = settings or ExtractionSettings()
        self.strides = _strides(self.n, self.settings.base_cells)
        self.levels: dict[int, LevelResult] = {}
        self._stores: dict[str, _Store] = {}
        self._max_stores = max_stores
        self._scratch: np.ndarray | None = None
        if preallocate:  # an interactive grid: pay for the memory up front, not on the first slider frame
            for k in range(max_stores):
                self._stores[f"_spare{k}"] = _Store(self.n, touch=True)
            self._scratch = np.zeros(self.n**3, dtype=np.int32)
            self._scratch.fill(0)

    # -- stores ---------------------------------------------------------------------------------------
    def use_store(self, name: str) -> _Store:
        """The value store of field ``name`` (values of a previous run are kept when the name is unchanged)."""
        if name in self._stores:
            store = self._stores.pop(name)
        elif len(self._stores) >= self._max_stores:
            store = self._stores.pop(next(iter(self._stores)))  # recycle the least recently used (or a spare)
            store.reset(name)
        else:
            store = _Store(self.n)
            store.key = name
        self._stores[name] = store
        return store

    @property
    def evaluations(self) -> int:
        return sum(s.evaluations for s in self._stores.values())

    # -- geometry of levels ---------------------------------------------------------------------------
    def cells_per_axis(self, stride: int) -> int:
        return -(-(self.n - 1) // stride)

    def corner_indices(self, stride: int, cells: np.ndarray) -> np.ndarray:
        """(M, 3) cells -> (M, 8) linear fine-grid indices of their corners (``_CORNERS`` order)."""
        n = self.n
        lo = np.minimum(cells * stride, n - 1)
        hi = np.minimum(lo + stride, n - 1)
        x = np.stack([lo[:, 0], hi[:, 0]]) * (n * n)
        y = np.stack([lo[:, 1], hi[:, 1]]) * n
        z = np.stack([lo[:, 2], hi[:, 2]])
        lin = x[:, None, None, :] + y[None, :, None, :] + z[None, None, :, :]  # (2, 2, 2, M)
        return lin.reshape(8, -1).T

    def unique(self, lin: np.ndarray) -> np.ndarray:
        """Distinct values of linear indices (< N^3), in no particular order: O(len) with a scratch array
        instead of a sort (np.unique dominated the extraction time)."""
        lin = np.asarray(lin, dtype=np.int64).reshape(-1)
        if self._scratch is None:
            self._scratch = np.empty(self.n**3, dtype=np.int32)  # never cleared: every use writes first
        self._scratch[lin] = np.arange(len(lin), dtype=np.int32)
        return lin[self._scratch[lin] == np.arange(len(lin), dtype=np.int32)]

    def children(self, stride: int, cells: np.ndarray) -> np.ndarray:
        """(M, 3) cells at ``stride`` -> their (<= 8M, 3) children at stride // 2."""
        m = self.cells_per_axis(stride // 2)
        ch = (cells[:, None, :] * 2 + _CHILDREN[None]).reshape(-1, 3)
        return ch[(ch < m).all(axis=1)]

    def threshold(self, stride: int) -> float:
        return self.settings.lipschitz * math.sqrt(3.0) * stride * self.h

    # -- one level ------------------------------------------------------------------------------------
    def _classify(
        self, stride: int, cells: np.ndarray, store: _Store, fld: Field, margin: float, cancel: CancelToken | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Evaluate the corners of ``cells``; returns (keep, change, corner values (M, 8), evaluations).

        keep: sign change, or every corner within lipschitz * diagonal (+ margin) of zero and, for whole cells of
        stride >= 2 without a sign change, the centre within half of that (the centre is a corner of the
        children, so its value is reused when the cell is kept).
        """
        corners = self.corner_indices(stride, cells)
        evaluated = store.ensure(fld, self.unique(corners), self.settings.chunk, cancel)
        v = store.values[corners]
        vmin, vmax = v.min(axis=1), v.max(axis=1)
        change = (vmin <= 0.0) & (vmax >= 0.0)
        keep = change | (np.abs(v).max(axis=1) <= self.threshold(stride) + margin)
        if stride >= 2:
            cand = keep & ~change & ((cells + 1) * stride <= self.n - 1).all(axis=1)
            if cand.any():
                centre = cells[cand] * stride + stride // 2
                lin = (centre[:, 0] * self.n + centre[:, 1]) * self.n + centre[:, 2]
                evaluated += store.ensure(fld, self.unique(lin), self.settings.chunk, cancel)
                keep[np.flatnonzero(cand)] = np.abs(store.values[lin]) <= 0.5 * self.threshold(stride) + margin
        return keep, change, v, evaluated

    def evaluate_level(
        self,
        stride: int,
        cells: np.ndarray,
        plan: FieldPlan,
        parent: np.ndarray | None,
        cancel: CancelToken | None = None,
    ) -> LevelResult:
        """Evaluate and classify ``cells`` at ``stride``.

        ``parent`` is the ``decided`` array of the level above (None when ``cells`` is the whole level).
        """
        t0 = time.perf_counter()
        name, fld, margin = plan.for_stride(stride)
        store = self.use_store(name)
        keep, change, v, evaluated = self._classify(stride, cells, store, fld, margin, cancel)
        decided = None
        if stride > 1:
            m = self.cells_per_axis(stride)
            if parent is None:
                decided = np.zeros((m, m, m), dtype=np.int8)
            else:
                up = np.arange(m) // 2
                decided = parent[np.ix_(up, up, up)]
            sign = np.where(v.min(axis=1) > 0.0, 1, -1).astype(np.int8)
            decided[cells[:, 0], cells[:, 1], cells[:, 2]] = np.where(keep, 0, sign)
        return LevelResult(
            stride, self.cells_per_axis(stride), name, cells, cells[keep], cells[change], decided,
            parent_decided=parent, seconds=time.perf_counter() - t0, evaluated=evaluated,
        )

    # -- runs -----------------------------------------------------------------------------------------
    def iter_levels(
        self,
        plan: FieldPlan,
        start: LevelResult | None = None,
        stop_stride: int = 1,
        cancel: CancelToken | None = None,
    ) -> Iterator[LevelResult]:
        """Refine level by level, yielding each finished level (coarsest first).

        Starts from scratch (all cells of the coarsest level) or below ``start`` (a finished level whose
        ``kept`` is a complete band, e.g. from ``track_level(mode="band")``); stops after ``stop_stride``.
        Finished levels are kept in ``self.levels``.
        """
        if start is None:
            s0 = self.strides[0]
            m = self.cells_per_axis(s0)
            cells = np.stack(np.meshgrid(*(np.arange(m),) * 3, indexing="ij"), axis=-1).reshape(-1, 3)
            level = self.evaluate_level(s0, cells, plan, None, cancel)
            self.levels = {s0: level}
            yield level
        else:
            if not start.complete_band:
                raise ValueError("cannot refine a level tracked in 'surface' mode; track it in 'band' mode")
            level = start
            self.levels = {s: lv for s, lv in self.levels.items() if s >= start.stride}
            self.levels[start.stride] = start
        while level.stride > stop_stride:
            check_cancel(cancel)
            child_stride = level.stride // 2
            follow = child_stride < 2**self.settings.follow_levels
            if follow and plan.for_stride(child_stride)[0] == level.store:  # same field: seeds are valid
                seeds = self._seed_cells(level, plan, cancel)
                child = self.track_level(child_stride, seeds, plan, cancel, mode="surface", keep_levels=True)
                child.parent_decided = level.decided
                level = child
            else:
                cells = self.children(level.stride, level.kept)
                level = self.evaluate_level(child_stride, cells, plan, level.decided, cancel)
            self.levels[child_stride] = level
            yield level

    def _seed_cells(self, level: LevelResult, plan: FieldPlan, cancel: CancelToken | None) -> np.ndarray:
        """One child cell crossed by the surface inside every sign-change cell of ``level``.

        For each cell, the first cell edge whose end values differ in sign is split at its midpoint; the half
        that still changes sign lies on the boundary of exactly one child cell, which the surface crosses.
        """
        s, child_stride = level.stride, level.stride // 2
        name, fld, _ = plan.for_stride(child_stride)
        store = self.use_store(name)
        cells = level.change
        positive = store.values[self.corner_indices(s, cells)] > 0.0  # (C, 8)
        mixed = positive[:, _EDGES[:, 0]] != positive[:, _EDGES[:, 1]]  # (C, 12)
        has = mixed.any(axis=1)
        cells, positive, mixed = cells[has], positive[has], mixed[has]
        edge = _EDGES[np.argmax(mixed, axis=1)]  # (C', 2) corner numbers
        oa, ob = _CORNERS[edge[:, 0]], _CORNERS[edge[:, 1]]
        mid = np.minimum(cells * s + (oa + ob) * child_stride, self.n - 1)
        lin = (mid[:, 0] * self.n + mid[:, 1]) * self.n + mid[:, 2]
        store.ensure(fld, self.unique(lin), self.settings.chunk, cancel)
        side_a = (store.values[lin] > 0.0) != positive[np.arange(len(cells)), edge[:, 0]]
        child = cells * 2 + np.where(side_a[:, None], oa, ob)
        m = self.cells_per_axis(child_stride)
        lin = self.unique(_linear(np.minimum(child, m - 1), m))
        return np.stack(np.unravel_index(lin, (m, m, m)), axis=1)

    def track_level(
        self,
        stride: int,
        seeds: np.ndarray,
        plan: FieldPlan,
        cancel: CancelToken | None = None,
        mode: str = "band",
        keep_levels: bool = False,
    ) -> LevelResult:
        """Rebuild one level for a new field starting from ``seeds`` (cells of the previous surface).

        ``mode="surface"`` follows the surface: from each cell with a sign change it visits the neighbour
        across every face whose corners change sign, so only cells the surface crosses (and the seeds) are
        evaluated: the cheapest preview, but not a band that finer levels can refine. ``mode="band"`` grows
        into the 26 neighbours of every kept cell until the kept band is closed, the same band ``iter_levels``
        finds; finer levels can start from it. Either way every surface component that reaches the evaluated
        cells is found; one appearing far from the previous surface needs a fresh ``iter_levels``.
        """
        if mode not in ("surface", "band"):
            raise ValueError(f"mode must be 'surface' or 'band', got {mode!r}")
        t0 = time.perf_counter()
        m = self.cells_per_axis(stride)
        name, fld, margin = plan.for_stride(stride)
        store = self.use_store(name)
        state = np.zeros(m**3, dtype=np.int8)  # flat: 0 = not evaluated, 1 = kept, 2 = no surface
        seeds = np.clip(np.asarray(seeds, dtype=np.int64).reshape(-1, 3), 0, m - 1)
        todo = self.unique(_linear(seeds, m))
        evaluated, rounds = 0, []
        while len(todo):
            cells = np.stack(np.unravel_index(todo, (m, m, m)), axis=1)
            keep, change, v, n_eval = self._classify(stride, cells, store, fld, margin, cancel)
            evaluated += n_eval
            if mode == "surface":
                keep = change
            state[todo] = np.where(keep, 1, 2)
            rounds.append((cells, keep, change, v.min(axis=1) > 0.0))
            if mode == "surface":
                grown = _across_mixed_faces(cells[change], v[change] > 0.0)
            else:
                grown = (cells[keep][:, None, :] + _NEIGHBOURS[None]).reshape(-1, 3)
            grown = grown[((grown >= 0) & (grown < m)).all(axis=1)]
            lin = self.unique(_linear(grown, m))
            todo = lin[state[lin] == 0]
        created = np.concatenate([r[0] for r in rounds]) if rounds else np.empty((0, 3), dtype=np.int64)
        kept = np.concatenate([r[0][r[1]] for r in rounds]) if rounds else created
        change = np.concatenate([r[0][r[1] & r[2]] for r in rounds]) if rounds else created
        decided = None
        if cube_mask_offset() is None and stride > 1:  # no exact cube mask: marching cubes needs every sign
            decided = self._decided_from(m, rounds)
        level = LevelResult(stride, m, name, created, kept, change, decided, None, time.perf_counter() - t0,
                            evaluated, complete_band=mode == "band")
        if not keep_levels:
            self.levels = {stride: level}
        return level

    @staticmethod
    def _decided_from(m: int, rounds: list) -> np.ndarray:
        """Per-cell signs for a tracked level: evaluated cells without surface give theirs, every other
        unevaluated cell the sign of the nearest one (only needed without an exact marching-cubes mask)."""
        from scipy.ndimage import distance_transform_edt

        state = np.zeros((m, m, m), dtype=np.int8)
        sign = np.zeros((m, m, m), dtype=np.int8)
        for cells, keep, _, positive in rounds:
            c = cells.T
            state[c[0], c[1], c[2]] = np.where(keep, 1, 2)
            sign[c[0], c[1], c[2]] = np.where(positive, 1, -1)
        decided = np.where(state == 2, sign, 0).astype(np.int8)
        unknown = state == 0
        if unknown.any() and (state == 2).any():
            _, nearest = distance_transform_edt(state != 2, return_indices=True)
            decided[unknown] = sign[tuple(ix[unknown] for ix in nearest)]
        elif unknown.any():
            decided[unknown] = 1
        return decided

    # -- meshes ---------------------------------------------------------------------------------------
    def level_mesh(self, level: LevelResult) -> trimesh.Trimesh:
        """Marching cubes of one finished level: only its sign-change cells are meshed (exact cube mask) and
        never-evaluated voxels carry the sign of the discarded cell they lie in, so the result equals dense
        marching cubes of the same samples."""
        if len(level.change) == 0:
            return empty_mesh()
        s, m = level.stride, level.cells_per_axis
        lo = level.change.min(axis=0)
        hi = level.change.max(axis=0) + 2  # voxel range [lo, hi) covers the corners of the change cells
        ranges = [np.arange(lo[d], hi[d]) for d in range(3)]
        fine = [np.minimum(r * s, self.n - 1) for r in ranges]
        store = self._stores[level.store]
        index = tuple(_as_slice(f) for f in fine)
        if all(isinstance(i, slice) for i in index):
            values = store.values.reshape((self.n,) * 3)[index]
            known = store.known.reshape((self.n,) * 3)[index]
        else:
            index = np.ix_(*fine)
            values = store.values.reshape((self.n,) * 3)[index]
            known = store.known.reshape((self.n,) * 3)[index]
        if not known.all():
            if level.decided is not None:
                fill = level.decided[np.ix_(*[np.minimum(r, m - 1) for r in ranges])]
            elif level.parent_decided is not None:
                fill = level.parent_decided[np.ix_(*[np.minimum(r, m - 1) // 2 for r in ranges])]
            elif cube_mask_offset() is not None:
                fill = np.ones(values.shape, dtype=np.int8)  # only the masked cubes are meshed
            else:
                raise RuntimeError("level without sign information")
            values = np.where(known, values, fill.astype(np.float32))
        axis = grid_axis(self.n)
        return volume_to_mesh(values, tuple(axis[f] for f in fine), 0.0, cubes=level.change - lo)


def _as_slice(idx: np.ndarray) -> slice | np.ndarray:
    """A regular index array as a slice (views instead of gathers); other arrays unchanged."""
    if len(idx) == 1:
        return slice(int(idx[0]), int(idx[0]) + 1)
    step = int(idx[1] - idx[0])
    if step > 0 and np.all(np.diff(idx) == step):
        return slice(int(idx[0]), int(idx[-1]) + 1, step)
    return idx


def _linear(cells: np.ndarray, m: int) -> np.ndarray:
    return (cells[:, 0] * m + cells[:, 1]) * m + cells[:, 2]


def _across_mixed_faces(cells: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Neighbours of ``cells`` (M, 3) across each face whose 4 corners do not all have one sign.

    ``positive`` (M, 8) is the corner sign in ``_CORNERS`` order.
    """
    out = []
    for axis in range(3):
        for side in (0, 1):
            on_face = _CORNERS[:, axis] == side
            face = positive[:, on_face]
            mixed = face.any(axis=1) & ~face.all(axis=1)
            step = np.zeros(3, dtype=np.int64)
            step[axis] = 1 if side else -1
            out.append(cells[mixed] + step)
    return np.concatenate(out) if out else np.empty((0, 3), dtype=np.int64)


def sparse_mesh(
    field: Field,
    resolution: int,
    settings: ExtractionSettings | None = None,
    cancel: CancelToken | None = None,
    plan: FieldPlan | None = None,
    grid: SparseGrid | None = None,
    on_level: Callable[[LevelResult], None] | None = None,
) -> trimesh.Trimesh:
    """Sparse marching cubes of ``field`` at ``resolution``: equal to dense-grid marching cubes (see module doc).

    Args:
        field: SDF, (M, 3) float32 -> (M,) float32, negative inside.
        plan: overrides ``field`` with a field plan (e.g. a coarse guide for the upper levels).
        grid: a ``SparseGrid`` to reuse (its memory, its stored values); a fresh one otherwise.
        on_level: called after every level (progress, statistics).
    """
    grid = grid or SparseGrid(resolution, settings)
    if grid.n != resolution:
        raise ValueError(f"grid has resolution {grid.n}, asked for {resolution}")
    plan = plan or FieldPlan(field)
    level = None
    for level in grid.iter_levels(plan, cancel=cancel):
        if on_level is not None:
            on_level(level)
    return grid.level_mesh(level)


def _strides(n: int, base_cells: int) -> list[int]:
    """Level strides, coarsest first: S0 = the power of two giving about ``base_cells`` cells per axis."""
    s0 = 1
    while -(-(n - 1) // (s0 * 2)) >= base_cells:
        s0 *= 2
    out = []
    while s0 >= 1:
        out.append(s0)
        s0 //= 2
    return out
