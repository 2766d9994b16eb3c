"""The stored start face: found again for the same request only, never for another face or a changed model;
shipped beside the model or cached for the user; a bad file or an unwritable folder only means computing it."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from imface_core.engine.progressive import MeshRequest
from imface_core.start_face import StartFace


@pytest.fixture(scope="module")
def start_mesh(tiny_model):
    return tiny_model.mesh(tiny_model.codes(0, 0), resolution=48)


@pytest.fixture
def model_copy(tmp_path, tiny_model_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return shutil.copy(tiny_model_path, tmp_path / "model.pt")


def test_the_same_request_gets_the_stored_face_to_the_bit(model_copy, tiny_model, start_mesh, tmp_path):
    request = MeshRequest(tiny_model.codes(0, 0), resolution=48, method="displace")
    store = StartFace(model_copy)
    assert store.load(request) is None
    written = store.save(request, start_mesh)
    assert written == store.cached and written.is_relative_to(tmp_path / "cache")
    again = StartFace(model_copy).load(MeshRequest(tiny_model.codes(0, 0), resolution=48, method="displace"))
    np.testing.assert_array_equal(again.vertices, start_mesh.vertices)
    np.testing.assert_array_equal(again.faces, start_mesh.faces)


def test_a_face_shipped_beside_the_model_is_found_without_a_cache(model_copy, tiny_model, start_mesh, tmp_path):
    request = MeshRequest(tiny_model.codes(0, 0), resolution=48)
    written = StartFace(model_copy).save(request, start_mesh, beside=True)
    assert written == model_copy.with_name("model.start_face.npz")
    assert not (tmp_path / "cache").exists()
    np.testing.assert_array_equal(StartFace(model_copy).load(request).vertices, start_mesh.vertices)


@pytest.mark.parametrize("change", ["codes", "resolution", "detail_scale", "method", "colors"])
def test_another_face_is_never_given_the_stored_one(model_copy, tiny_model, start_mesh, change):
    base = dict(codes=tiny_model.codes(0, 0), resolution=48, method="displace")
    StartFace(model_copy).save(MeshRequest(**base), start_mesh)
    other = {"codes": dict(codes=tiny_model.codes(1, 0)), "resolution": dict(resolution=64),
             "detail_scale": dict(detail_scale=0.5), "method": dict(method="exact"), "colors": dict(colors=True)}
    assert StartFace(model_copy).load(MeshRequest(**{**base, **other[change]})) is None


def test_a_changed_model_file_invalidates_the_stored_face(model_copy, tiny_model, start_mesh):
    request = MeshRequest(tiny_model.codes(0, 0), resolution=48)
    StartFace(model_copy).save(request, start_mesh, beside=True)
    with open(model_copy, "ab") as f:
        f.write(b"\0")
    assert StartFace(model_copy).load(request) is None


def test_a_corrupt_file_is_ignored_and_replaced(model_copy, tiny_model, start_mesh):
    request = MeshRequest(tiny_model.codes(0, 0), resolution=48)
    store = StartFace(model_copy)
    store.cached.parent.mkdir(parents=True)
    store.cached.write_bytes(b"not an npz")
    assert store.load(request) is None
    store.save(request, start_mesh)
    assert store.load(request) is not None


def test_an_unwritable_cache_only_means_computing_again(model_copy, tiny_model, start_mesh):
    store = StartFace(model_copy)
    store.cached.mkdir(parents=True)  # nothing can be written there (not even by root)
    request = MeshRequest(tiny_model.codes(0, 0), resolution=48)
    assert store.save(request, start_mesh) is None
    assert StartFace(model_copy).load(request) is None
