"""Named identity axes (face width, nose length, ...) and the editor's slider ranges, without Qt.

The regression is checked on synthetic data with a known answer; the landmarks and axes on the tiny model
(structure) and on the shipped model (a named slider moves its measurement by what it promises).
"""

from __future__ import annotations

import numpy as np
import pytest

from app.face_state import MIX_RANGE, SIGMA_RANGE, FaceSpace
from imface_core import FaceModel
from imface_core.engine import identity_axes as ia
from imface_core.engine.field import FaceField
from imface_core.engine.navigation import LatentNavigator
from imface_core.face_codes import FaceCodes
from imface_core.face_model import DEFAULT_MODEL


@pytest.fixture(scope="module")
def tiny_space(tiny_model) -> FaceSpace:
    return FaceSpace.from_navigator(LatentNavigator(tiny_model))


@pytest.fixture(scope="module")
def shipped_model() -> FaceModel:
    return FaceModel.load(DEFAULT_MODEL, device="cpu")


@pytest.fixture(scope="module")
def shipped_space(shipped_model) -> FaceSpace:
    return FaceSpace.from_navigator(LatentNavigator(shipped_model))


def test_fit_axis_recovers_a_known_direction_and_its_shares():
    rng = np.random.default_rng(0)
    c = rng.standard_normal((400, 4))
    y = 100.0 + 3.0 * c[:, 0] - 4.0 * c[:, 2] + 0.05 * rng.standard_normal(400)
    sigma = np.array([2.0, 1.0, 1.0, 1.0])
    direction, slope, r2, r2_loo, share = ia.fit_axis(c, y, sigma, total_variance=7.0)
    np.testing.assert_allclose(direction, [0.6, 0.0, -0.8, 0.0], atol=0.01)
    assert slope == pytest.approx(5.0, abs=0.02)
    assert 0.999 < r2 <= 1.0 and 0.999 < r2_loo <= r2
    # the code moves along (0.6 * 2, 0, -0.8 * 1, 0) in the principal basis: variance there (1.44 * 4 + 0.64) / 2.08
    assert share == pytest.approx((1.44 * 4 + 0.64) / 2.08 / 7.0, abs=0.01)
    assert ia.fit_axis(c, np.full(400, 3.0), sigma, 7.0) is None  # nothing to explain
    noise = ia.fit_axis(c[:12], rng.standard_normal(12), sigma, 7.0)
    assert noise[3] < noise[2]  # leave-one-out is the honest one


def test_landmarks_lie_on_each_training_face(tiny_model, tiny_space):
    table = tiny_model.tables["id"]
    landmarks = ia.face_landmarks68(tiny_model, table, tiny_space.neutral)
    assert landmarks.shape == (len(table), 68, 3)
    template = tiny_model.net.template_landmarks68.numpy()
    for z_id, points in zip(table, landmarks):
        face = FaceField(tiny_model, FaceCodes(z_id, tiny_space.neutral, tiny_space.det_mean), detail=False)
        assert np.abs(face.coarse_sdf(points.astype(np.float32))).max() < 1e-4  # on the surface (0.01 mm)
        assert np.abs(face.warp(points.astype(np.float32)) - template).max() < 0.05  # the template's landmarks
    widths = ia.measure(landmarks)[:, 0]
    assert np.ptp(widths) > 0.1 and np.all((widths > 50) & (widths < 250))  # mm, and the faces differ
    picked = ia.face_landmarks68(tiny_model, table, tiny_space.neutral, indices=[0, 16])
    np.testing.assert_allclose(picked, landmarks[:, [0, 16]], atol=1e-6)


def test_the_tiny_model_gets_unit_axes_within_its_sliders(tiny_space):
    names = [m.name for m in ia.MEASUREMENTS]
    assert tiny_space.measured_axes and all(a.name in names for a in tiny_space.measured_axes)
    for axis in tiny_space.measured_axes:
        assert np.linalg.norm(axis.direction) == pytest.approx(1.0)
        assert len(axis.direction) <= tiny_space.n_identity
        assert 0.0 <= axis.r2 <= 1.0 + 1e-9 and 0.0 < axis.code_variance_share <= 1.0 and axis.mm_per_unit > 0
        assert len(axis.response_mm) == len(ia.RESPONSE_STEPS) and axis.response_mm[2] == 0.0
    assert tiny_space.identity_axes == [a for a in tiny_space.measured_axes if a.steady]


def test_only_axes_that_do_what_they_say_become_sliders_on_the_shipped_model(shipped_space, shipped_model):
    space, model = shipped_space, shipped_model
    assert [a.name for a in space.measured_axes] == [m.name for m in ia.MEASUREMENTS]
    steady = [a.name for a in space.identity_axes]
    assert "Face width" in steady  # the one the shipped model draws steadily (2.1 mm per unit, R^2 0.57)
    for axis in space.measured_axes:
        rises = np.diff(axis.response_mm) > 0
        assert (axis.name in steady) == (bool(rises.all()) and axis.response_mm[-1] - axis.response_mm[0] >= 1.0)
    # the slider's promise is what moving it does: the face's width changes by the measured mm per unit
    j = steady.index("Face width")
    axis = space.identity_axes[j]
    measurement = next(m for m in ia.MEASUREMENTS if m.name == "Face width")
    state = space.initial_state()
    widths = []
    for value in (-1.5, 1.5):
        moved = state.with_id_coeffs(space.move_along_axis(state.id_coeffs, j, value))
        assert space.axis_values(moved.id_coeffs)[j] == pytest.approx(value, abs=0.05)
        landmarks = ia.face_landmarks68(model, space.z_id(moved)[None], space.neutral, measurement.landmarks)
        widths.append(ia.measure(landmarks, [measurement], measurement.landmarks)[0, 0])
    promised = 3.0 * axis.measured_mm_per_unit
    assert promised > 1.0 and 0.7 * promised < widths[1] - widths[0] < 1.3 * promised, (widths, promised)


def test_identity_label_says_edited_once_the_sliders_leave_the_person(tiny_space):
    space = tiny_space
    name = next(iter(space.training_identities))
    state = space.with_identity_code(space.initial_state(), space.training_identities[name], name)
    assert space.identity_label(state) == name
    moved = state.with_id_coeff(0, state.id_coeffs[0] + 0.01)
    assert space.identity_label(moved) == f"{name} (edited)"
    assert space.identity_label(moved.with_id_coeff(0, state.id_coeffs[0])) == name
    assert space.identity_label(space.random_identity(state, 4)).startswith("random face")


@pytest.mark.parametrize("which", ["tiny", "shipped"])
def test_named_expressions_run_from_minus_half_to_two_within_the_code_bounds(which, request):
    space, model = request.getfixturevalue(f"{which}_space"), request.getfixturevalue(f"{which}_model")
    assert MIX_RANGE == (-0.5, 2.0)
    state = space.initial_state()
    n = len(space.expression_names)
    for mix in (2.0, -0.5):
        for sign in (-1.0, 1.0):
            corner = state.with_id_coeffs((sign * SIGMA_RANGE,) * space.n_identity)
            for i in range(space.n_expression):
                corner = corner.with_exp_coeff(i, sign * SIGMA_RANGE)
            for i in range(n):
                corner = corner.with_mix(i, mix)
            space.check(corner)
            model.check_codes(space.codes(corner))  # CodesError if beyond MAX_SIGMAS
    for outside in (2.01, -0.51):
        with pytest.raises(ValueError, match="outside its slider's range -0.5 to 2"):
            space.check(state.with_mix(0, outside))
