"""Correspondence measured against the truth: through the template topology, a point of one face lands on the
same point of the other; nearest-point correspondence does not."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from imface_core.evaluation.correspondence import (FittedFace, carry_points, correspondence_errors, summarise)
from imface_core.fitting.align import Alignment


def _face(model, name, codes, landmark_vertices):
    """A face of the model as a 'scan' whose own mesh is its template-topology mesh (so the truth is known:
    vertex i of one face is vertex i of the other), with an alignment that is only the mm -> normalised scale."""
    mesh = model.mesh(codes, resolution=40, topology="template")
    mm = trimesh.Trimesh(np.asarray(mesh.vertices) * 100.0, np.asarray(mesh.faces), process=False)
    return FittedFace(name, np.asarray(mm.vertices), np.asarray(mm.faces), landmark_vertices, mm,
                      Alignment(np.eye(3), np.zeros(3)))


def test_template_topology_carries_points_exactly_and_nearest_points_do_not(tiny_model):
    landmarks = np.arange(0, 680, 10)
    a = _face(tiny_model, "a", tiny_model.codes(0, 0), landmarks)
    b = _face(tiny_model, "b", tiny_model.codes(1, 2), landmarks)
    errors = correspondence_errors(a, b, max_points=None)
    assert len(errors.template_region) == len(a.vertices)  # every vertex lies on A's template mesh
    assert errors.template_landmarks.max() < 1e-6 and errors.template_region.max() < 1e-6
    summary = summarise([errors])
    assert summary["nearest_region"]["mean_mm"] > 0.3, summary  # another person: nearest points slide
    assert summary["nearest_landmarks"]["points"] == 68


def test_carrying_needs_one_topology(tiny_model):
    a = tiny_model.mesh(tiny_model.codes(0, 0), resolution=40, topology="template")
    b = tiny_model.mesh(tiny_model.codes(0, 0), resolution=48, topology="template")
    with pytest.raises(ValueError, match="share their topology"):
        carry_points(np.asarray(a.vertices[:3]), a, b)
