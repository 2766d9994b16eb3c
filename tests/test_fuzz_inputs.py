"""Fuzzing the two ways a user's data reaches a face: session files and code vectors.

200 corrupted session files (truncated, bytes flipped, values replaced by NaN / inf / 1e30 / strings / lists /
None, keys dropped) go through ``load_session`` and ``session_state`` (what the window does on File > Open
session); 200 corrupted code vectors go through ``FaceModel.sdf`` and ``FaceModel.mesh``. Only the documented
errors may come out, each naming the problem, and whatever is accepted must be a face with a surface. Fixed
seeds; the tiny model; no mesh is extracted (refused codes fail before any network runs, accepted ones get one
cheap SDF call along the face's axis).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from app.face_state import FaceSpace
from app.session import Session, SessionError, load_session, save_session, session_state
from imface_core.errors import CodesError
from imface_core.face_model import FaceCodes, FaceModel

AXIS = np.stack([np.zeros(7), np.zeros(7), np.linspace(-0.9, 0.9, 7)], axis=1).astype(np.float32)
"""Points through the face from behind to in front of the nose: a face's SDF changes sign along them."""
STRANGE_VALUES = [float("nan"), float("inf"), -float("inf"), 1e30, -1e30, 1e300, "3", "abc", [], [1.0, 2.0], None,
                  {}, True, 0, 2.5, -7.0]


@pytest.fixture(scope="module")
def tiny(request):
    """The session's tiny model, or the checkpoint in $IMFACE_TEST_MODEL (quicker local runs)."""
    path = os.environ.get("IMFACE_TEST_MODEL") or request.getfixturevalue("tiny_model_path")
    return FaceModel.load(path, device="cpu")


@pytest.fixture(scope="module")
def space(tiny):
    from imface_core.engine.navigation import LatentNavigator

    return FaceSpace.from_navigator(LatentNavigator(tiny))


def has_surface(model: FaceModel, codes: FaceCodes) -> bool:
    """One cheap call: the coarse SDF along ``AXIS`` changes sign (the details move the surface by mm only)."""
    sdf = model.sdf(AXIS, codes, detail=False)
    return bool(np.isfinite(sdf).all() and sdf.min() < 0.0 < sdf.max())


# ------------------------------------------------------------------------------------------------ sessions
def _leaves(node, path=()):
    """Paths of every value in a JSON document (dict keys and list indices)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    out = [path] if path else []
    for key, child in items:
        out += _leaves(child, path + (key,))
    return out


def _set(doc, path, value):
    for key in path[:-1]:
        doc = doc[key]
    if value is _DROP:
        if isinstance(doc, dict):
            del doc[path[-1]]
        else:
            doc.pop(path[-1])
    else:
        doc[path[-1]] = value


_DROP = object()


def corrupted_sessions(text: str, count: int, seed: int = 0) -> list[tuple[str, bytes]]:
    """``count`` (how, bytes) corruptions of a session file's ``text``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        kind = ("truncate", "flip", "value", "values", "drop", "scale")[i % 6]
        data = text.encode()
        if kind == "truncate":
            data = data[: int(rng.integers(0, len(data)))]
        elif kind == "flip":
            data = bytearray(data)
            for pos in rng.integers(0, len(data), int(rng.integers(1, 8))):
                data[pos] = int(rng.integers(0, 256))
            data = bytes(data)
        else:
            doc = json.loads(text)
            leaves = _leaves(doc)
            path = leaves[int(rng.integers(len(leaves)))]
            if kind == "value":  # one value (a number, a list, a key's whole value) replaced
                _set(doc, path, STRANGE_VALUES[int(rng.integers(len(STRANGE_VALUES)))])
            elif kind == "values":  # a whole slider list or code set to one strange number
                key = ("state", "codes")[int(rng.integers(2))]
                name = list(doc[key])[int(rng.integers(len(doc[key])))]
                value = [1e30, float("nan"), -1e4, 50.0, 3.5][int(rng.integers(5))]
                doc[key][name] = [value] * len(doc[key][name]) if isinstance(doc[key][name], list) else value
            elif kind == "drop":
                _set(doc, path, _DROP)
            else:  # a list made longer or shorter (another model's sizes)
                lists = [p for p in leaves if isinstance(_get(doc, p), list) and _get(doc, p)]
                target = lists[int(rng.integers(len(lists)))]
                values = _get(doc, target)
                _set(doc, target, values[: int(rng.integers(0, len(values)))] or values * 2)
            data = json.dumps(doc).encode()
        out.append((kind, data))
    return out


def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


def test_corrupted_sessions_are_refused_with_a_message_or_open_a_real_face(tiny, space, tmp_path):
    state = space.random_identity(space.initial_state(), 11).with_mix(0, 0.5)
    codes = space.codes(state)
    good = save_session(tmp_path / "good.imface.json",
                        Session(state, {k: v.tolist() for k, v in codes.as_dict().items()}, "model.pt",
                                {"colour_mode": "plain", "quality": 128}))
    outcomes: dict[str, int] = {}
    checked: dict[bytes, bool] = {}
    for i, (kind, data) in enumerate(corrupted_sessions(good.read_text(), 200)):
        path = tmp_path / f"fuzz_{i:03d}.imface.json"
        path.write_bytes(data)
        try:
            opened = session_state(load_session(path), space, tiny.check_codes, path)
        except SessionError as exc:  # the only error allowed: it names the file
            assert f"`{path}`" in str(exc), (kind, str(exc))
            outcomes["refused"] = outcomes.get("refused", 0) + 1
            continue
        space.check(opened)
        codes = space.codes(opened)
        key = b"".join(z.tobytes() for z in codes.as_dict().values())
        if key not in checked:  # (most opened sessions differ in their view or label only)
            checked[key] = has_surface(tiny, codes)
        assert checked[key], (kind, data[:300])
        outcomes["opened"] = outcomes.get("opened", 0) + 1
    assert outcomes.get("refused", 0) > 100 and outcomes.get("opened", 0) > 5, outcomes


# ------------------------------------------------------------------------------------------------ codes
def corrupted_codes(good: FaceCodes, count: int, seed: int = 0) -> list[tuple[str, object]]:
    """``count`` (how, codes) from ``good``: missing, wrong length or shape, NaN, inf, huge, not numbers, or
    (the "small" kind) a valid small move."""
    rng = np.random.default_rng(seed)
    names = ("z_id", "z_exp", "z_det")
    out: list[tuple[str, object]] = []
    for i in range(count):
        kind = ("none", "length", "shape", "nan", "inf", "huge", "text", "codes_none", "small", "object")[i % 10]
        name = names[int(rng.integers(3))]
        z = np.array(getattr(good, name), dtype=np.float64)
        if kind == "codes_none":
            out.append((kind, None))
            continue
        if kind == "object":
            out.append((kind, [good.as_dict(), tuple(good.as_dict().values()), "z_id", 3.0][i % 4]))
            continue
        if kind == "none":
            value = None
        elif kind == "length":
            n = int(rng.integers(0, 3 * len(z)))
            value = rng.normal(0, 0.01, n if n != len(z) else n + 1)
        elif kind == "shape":
            value = z[None] if i % 2 else np.stack([z, z])
        elif kind in ("nan", "inf"):
            value = z.copy()
            value[rng.integers(0, len(z), int(rng.integers(1, len(z) + 1)))] = np.nan if kind == "nan" else -np.inf
        elif kind == "huge":
            value = z.copy()
            value[int(rng.integers(len(z)))] = float(rng.choice([-1, 1]) * 10.0 ** rng.uniform(1, 30))
        elif kind == "text":
            value = ["x"] * len(z) if i % 2 else "0.1 0.2"
        else:  # small: a valid move within the training spread
            value = z + rng.normal(0, 0.002, len(z))
        out.append((kind, FaceCodes(**{**good.as_dict(), name: value})))
    return out


def test_corrupted_codes_are_refused_before_any_work_or_give_a_face(tiny, monkeypatch):
    good = tiny.codes(1, 0)
    network_calls = []
    predict = tiny.net.predict_landmarks
    monkeypatch.setattr(tiny.net, "predict_landmarks", lambda *a: network_calls.append(1) or predict(*a))
    refused = accepted = 0
    for kind, codes in corrupted_codes(good, 200):
        network_calls.clear()
        try:
            ok = has_surface(tiny, codes)
        except CodesError as exc:
            assert kind != "small", str(exc)
            assert network_calls == [], kind  # refused before the network ran
            with pytest.raises(CodesError):
                tiny.mesh(codes, 64)  # refused as quickly: no mesh is extracted
            assert network_calls == []
            refused += 1
            continue
        assert kind == "small" and ok, kind
        accepted += 1
    assert refused == 180 and accepted == 20
