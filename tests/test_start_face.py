"""The start face stored beside the model: found again for the same request only, never for another face or a
changed model, and a bad file or a read-only folder only means computing the face."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from imface_core.engine.progressive import MeshRequest
from imface_core.engine.start_face import StartFace


@pytest.fixture(scope="module")
def start_mesh(tiny_model):
    return tiny_model.mesh(tiny_model.codes(0, 0), resolution=48)


@pytest.fixture
def model_copy(tmp_path, tiny_model_path):
    return shutil.copy(tiny_model_path, tmp_path / "model.pt")


def test_the_same_request_gets_the_stored_face_to_the_bit(model_copy, tiny_model, start_mesh):
    request = MeshRequest(tiny_model.codes(0, 0), resolution=48, method="displace")
    store = StartFace(model_copy)
    assert store.load(request) is None
    written = store.save(request, start_mesh)
    assert written == store.path and written.parent == model_copy.parent
    again = StartFace(model_copy).load(MeshRequest(tiny_model.codes(0, 0), resolution=48, method="displace"))
    np.testing.assert_array_equal(again.vertices, start_mesh.vertices)
    np.testing.assert_array_equal(again.faces, start_mesh.faces)


@pytest.mark.parametrize("change", ["codes", "resolution", "detail_scale", "method", "colors"])
def test_another_face_is_never_given_the_stored_one(model_copy, tiny_model, start_mesh, change):
    base = dict(codes=tiny_model.codes(0, 0), resolution=48, method="displace")
    StartFace(model_copy).save(MeshRequest(**base), start_mesh)
    other = {"codes": dict(codes=tiny_model.codes(1, 0)), "resolution": dict(resolution=64),
             "detail_scale": dict(detail_scale=0.5), "method": dict(method="exact"), "colors": dict(colors=True)}
    assert StartFace(model_copy).load(MeshRequest(**{**base, **other[change]})) is None


def test_a_changed_model_file_invalidates_the_stored_face(model_copy, tiny_model, start_mesh):
    request = MeshRequest(tiny_model.codes(0, 0), resolution=48)
    StartFace(model_copy).save(request, start_mesh)
    with open(model_copy, "ab") as f:
        f.write(b"\0")
    assert StartFace(model_copy).load(request) is None


def test_a_corrupt_file_is_ignored_and_replaced(model_copy, tiny_model, start_mesh):
    request = MeshRequest(tiny_model.codes(0, 0), resolution=48)
    store = StartFace(model_copy)
    store.path.write_bytes(b"not an npz")
    assert store.load(request) is None
    store.save(request, start_mesh)
    assert store.load(request) is not None


def test_a_model_folder_that_takes_no_file_stores_in_the_user_cache(model_copy, tmp_path, tiny_model, start_mesh,
                                                                     monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    store = StartFace(model_copy)
    store.path.mkdir()  # nothing can be written there (not even by root)
    request = MeshRequest(tiny_model.codes(0, 0), resolution=48)
    written = store.save(request, start_mesh)
    assert written == store.fallback and written.is_relative_to(tmp_path / "cache")
    np.testing.assert_array_equal(StartFace(model_copy).load(request).vertices, start_mesh.vertices)
