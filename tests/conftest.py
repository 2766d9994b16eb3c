"""Shared fixtures: a procedural face model, a tiny prepared data set and a tiny trained model.

Everything here is built from ``procedural_face`` (no ../shared needed) once per
test session, small enough to take seconds.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from procedural_face import write_face_model  # tests/ is on the path: pytest puts a rootless conftest's folder there

# Keep torch from oversubscribing the 2-core CI machine when tests spawn processes.
os.environ.setdefault("OMP_NUM_THREADS", "2")
# The editor's start faces (imface_core.start_face) are cached for this test session only.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="imface-test-cache-")

TINY_IDENTITIES = 3
TINY_EXPRESSIONS = 4
TINY_STAGE1, TINY_STAGE2 = 240, 60


@pytest.fixture(autouse=True)
def _own_config(tmp_path, monkeypatch):
    """Every test has its own editor settings folder (recent files, preferences): none writes the user's."""
    monkeypatch.setenv("IMFACE_STUDIO_CONFIG", str(tmp_path / "config"))


@pytest.fixture(scope="session")
def procedural_model_path(tmp_path_factory) -> Path:
    return write_face_model(tmp_path_factory.mktemp("face_model") / "procedural_face.npz")


@pytest.fixture(scope="session")
def tiny_raw_dir(tmp_path_factory, procedural_model_path) -> Path:
    from imface_core.data.synth import synthesize

    out = tmp_path_factory.mktemp("tiny_raw")
    synthesize(procedural_model_path, out, TINY_IDENTITIES, TINY_EXPRESSIONS, seed=0, jobs=1)
    return out


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory, tiny_raw_dir) -> Path:
    from imface_core.data.prep import PrepSettings, prepare_dataset

    out = tmp_path_factory.mktemp("tiny_data")
    done, skipped = prepare_dataset(tiny_raw_dir, out, PrepSettings(surface_points=20_000, free_points=4_000), jobs=1)
    assert not skipped, skipped
    return out


def tiny_config(**overrides):
    from imface_core.training.config import preset, with_overrides

    settings = {"stage1_steps": TINY_STAGE1, "stage2_steps": TINY_STAGE2, **overrides}
    return with_overrides(preset("tiny"), **settings)


@pytest.fixture(scope="session")
def tiny_run_dir(tmp_path_factory, tiny_data_dir) -> Path:
    """A tiny model trained for a few hundred steps (both stages)."""
    from imface_core.training.trainer import Trainer

    out = tmp_path_factory.mktemp("tiny_run")
    Trainer(tiny_data_dir, out, tiny_config(), progress=False).run()
    return out


@pytest.fixture(scope="session")
def tiny_model_path(tiny_run_dir) -> Path:
    return tiny_run_dir / "model.pt"


@pytest.fixture(scope="session")
def tiny_model(tiny_model_path):
    from imface_core import FaceModel

    return FaceModel.load(tiny_model_path, device="cpu")


@pytest.fixture(scope="session")
def region_model(tiny_model_path, tiny_data_dir, tmp_path_factory):
    """The tiny model with a face region learnt from its training scans (as ``imface region`` stores it)."""
    import shutil

    from imface_core import FaceModel
    from imface_core.training.face_region import learn_face_region, store_face_region

    path = tmp_path_factory.mktemp("region_model") / "model.pt"
    shutil.copy(tiny_model_path, path)
    region = learn_face_region(FaceModel.load(path, device="cpu"), tiny_data_dir, points_per_scan=5000)
    store_face_region(path, region)
    return FaceModel.load(path, device="cpu")
