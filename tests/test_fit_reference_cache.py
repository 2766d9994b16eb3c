"""The fit's alignment reference kept on disk between runs: read back to the bit, ignored when corrupt or when it
belongs to another model file, and never used for a model without a file."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from imface_core.checkpoint import store_in_model
from imface_core.face_model import DEFAULT_MODEL, FaceModel
from imface_core.fitting.align import reference_face
from imface_core.fitting.reference_cache import cache_folder, reference_path


@pytest.fixture
def model_file(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "model.pt"
    shutil.copy(DEFAULT_MODEL, path)
    return path


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("points", "normals", "landmarks5"))


def test_reference_is_stored_once_and_read_back_exactly(model_file):
    first = reference_face(FaceModel.load(model_file))
    assert not first.stored and len(first.points) == 20_000
    stored = list(cache_folder().glob("model-*.npz"))
    assert len(stored) == 1
    again = reference_face(FaceModel.load(model_file))  # another process would load it the same way
    assert again.stored and _same(first, again)


def test_corrupt_reference_is_computed_again(model_file):
    first = reference_face(FaceModel.load(model_file))
    path = reference_path(FaceModel.load(model_file), 96)
    path.write_bytes(b"not an npz")
    again = reference_face(FaceModel.load(model_file))
    assert not again.stored and _same(first, again)
    assert reference_face(FaceModel.load(model_file)).stored  # and stored afresh


def test_another_model_file_gets_its_own_reference(model_file, tmp_path):
    other = store_in_model(model_file, {"note": "changed"}, out_path=tmp_path / "model2.pt")
    a, b = FaceModel.load(model_file), FaceModel.load(other)
    assert reference_path(a, 96) != reference_path(b, 96)
    reference_face(a)
    assert not reference_face(b).stored


def test_model_without_file_is_never_cached(model_file):
    model = FaceModel.load(model_file)
    model.path = None
    assert reference_path(model, 96) is None
    assert not reference_face(model).stored
    assert not cache_folder().exists()
