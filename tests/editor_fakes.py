"""Stand-ins for the editor's Qt-free tests: a small linear face space, a loaded model, a mesh worker and a view.

No Qt, no torch: ``FakeEditor`` is what ``app.engine.EditorModel`` offers the document, ``FakeWorker`` what
``LatestOnlyWorker`` offers the scheduler (it only records jobs; a test hands meshes back with ``deliver``),
``FakeView`` records what the scheduler tells the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from app.face_state import FaceSpace
from imface_core.errors import CodesError
from imface_core.face_codes import FaceCodes


class LinearCodeSpace:
    """Principal directions of a code table: code = mean + sum_k coeff_k * sigma_k * component_k."""

    def __init__(self, dim: int, k: int, seed: int):
        rng = np.random.default_rng(seed)
        self.mean = rng.normal(size=dim)
        q, _ = np.linalg.qr(rng.normal(size=(dim, k)))
        self.components = q.T  # (k, dim), orthonormal rows
        self.sigma = np.linspace(1.0, 0.5, k)

    @property
    def num_components(self) -> int:
        return len(self.sigma)

    def code(self, coefficients) -> np.ndarray:
        return self.mean + (np.asarray(coefficients, dtype=np.float64) * self.sigma) @ self.components

    def coefficients(self, code) -> np.ndarray:
        return ((np.asarray(code, dtype=np.float64) - self.mean) @ self.components.T) / self.sigma

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        return self.code(rng.standard_normal(self.num_components))


def make_space() -> FaceSpace:
    identity, expression = LinearCodeSpace(6, 3, seed=1), LinearCodeSpace(5, 2, seed=2)
    presets = {"neutral": expression.mean, "smile": expression.code([1.0, 0.5])}
    return FaceSpace(identity, expression, presets, det_mean=np.zeros(4), start_label="start face")


class FakeModel:
    """``FaceModel.check_codes``: codes further than 100 from the origin are refused."""

    def check_codes(self, codes: FaceCodes) -> FaceCodes:
        for name, values in codes.as_dict().items():
            if not np.all(np.abs(values) < 100):
                raise CodesError(f"{name} is absurdly far from the model's codes")
        return codes


class FakeEditor:
    """What the document needs of ``app.engine.EditorModel``."""

    def __init__(self, path: Path = Path("fake_model.pt")):
        self.space = make_space()
        self.model = FakeModel()
        self.path = path
        self.identities = ["anna", "ben"]
        self._z_det = [np.full(4, 0.1), np.full(4, -0.2)]

    @property
    def name(self) -> str:
        return self.path.name

    def training_codes(self, index: int) -> FaceCodes:
        return FaceCodes(self.space.identity.code([0.5 * (index + 1), 0.0, 0.0]), self.space.neutral,
                         self._z_det[index])

    def detail_sources(self) -> list[tuple[str, np.ndarray]]:
        return [(f"{name} (training)", z) for name, z in zip(self.identities, self._z_det)]


@dataclass
class FakeFit:
    """What the document keeps of a fit (``app.engine.FitOutcome``)."""

    path: Path
    codes: FaceCodes

    @property
    def name(self) -> str:
        return self.path.name


# ------------------------------------------------------------------------------------------------ meshes
@dataclass
class FakePoly:
    n_points: int


@dataclass
class FakeDisplayMesh:
    """``app.engine.DisplayMesh`` as far as the scheduler looks at it."""

    job: Any
    stage: str
    stride: int
    full_detail: bool
    n_vertices: int = 500
    landmarks: Any = None
    seconds: float = 0.01

    @property
    def job_id(self) -> int:
        return self.job.job_id

    @property
    def poly(self) -> FakePoly:
        return FakePoly(self.n_vertices)


class FakeWorker:
    """Records the jobs submitted; ``deliver`` / ``fail`` call the scheduler's callbacks as the worker thread
    would."""

    def __init__(self, run: Callable, on_result: Callable, on_error: Callable):
        self.run, self.on_result, self.on_error = run, on_result, on_error
        self.jobs: list = []
        self.closed = False

    def submit(self, job) -> None:
        assert not self.closed, "a job was submitted to a closed worker"
        self.jobs.append(job)

    def close(self, timeout: float | None = None) -> bool:
        self.closed = True
        return True

    def deliver(self, job, stage: str = "final", **kwargs) -> FakeDisplayMesh:
        full = stage == "final"
        dm = FakeDisplayMesh(job, stage, kwargs.pop("stride", 1 if full else 4), full, **kwargs)
        if job.landmarks and dm.landmarks is None:
            dm.landmarks = np.zeros((5, 3))
        self.on_result(job, dm)
        return dm

    def fail(self, job, exc: BaseException) -> None:
        self.on_error(job, exc)


@dataclass
class FakeView:
    """Records what the scheduler asks of the window (``app.scheduler.MeshView``)."""

    drawn: list = field(default_factory=list)
    shown: list = field(default_factory=list)
    ready: list = field(default_factory=list)
    activity: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    exports: list = field(default_factory=list)
    failed_exports: list = field(default_factory=list)

    def draw_mesh(self, dm) -> None:
        self.drawn.append(dm)

    def mesh_shown(self, dm) -> None:
        self.shown.append(dm)

    def face_ready(self, dm) -> None:
        self.ready.append(dm)

    def set_activity(self, text: str) -> None:
        self.activity.append(text)

    def mesh_failed(self, reason: str) -> None:
        self.failures.append(reason)

    def show_error(self, title: str, text: str) -> None:
        self.errors.append((title, text))

    def start_export(self, dm, path: Path, colors: bool) -> None:
        self.exports.append((dm, path, colors))

    def export_failed(self, path: Path, exc: BaseException) -> None:
        self.failed_exports.append((path, str(exc)))
