"""A rig in one file (issue 19, item 3): ``imface rig`` writes a glTF 2.0 binary with the neutral face in the
template topology and one named morph target per expression; it passes the Khronos glTF validator with no
error and reads back with trimesh."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import trimesh

from imface_core.cli import main as cli_main
from imface_core.engine.navigation import LatentNavigator
from imface_core.engine.rig import METRES_PER_UNIT, base_expression, read_glb

ROOT = Path(__file__).resolve().parent.parent
RESOLUTION = 48


def validate(path: Path) -> dict:
    """The Khronos glTF validator's report on ``path`` (scripts/validate_gltf.js). Fails, never skips, when
    node or the validator is missing: scripts/setup.sh installs it from npm, and CI runs that first."""
    node = shutil.which("node")
    assert node, "node is not installed: the glTF validator needs Node.js (and scripts/setup.sh needs npm)"
    assert (ROOT / ".tools" / "node_modules" / "gltf-validator").is_dir(), (
        "the glTF validator is not installed in .tools/: run `bash scripts/setup.sh` (npm gltf-validator)")
    run = subprocess.run([node, str(ROOT / "scripts" / "validate_gltf.js"), str(path)], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode in (0, 1), run.stderr
    return json.loads(run.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def rig_file(tiny_model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("rig") / "face.glb"
    assert cli_main(["rig", "--model", str(tiny_model_path), "--identity", "1", "--resolution", str(RESOLUTION),
                     "--colors", "correspondence", "--device", "cpu", "--out", str(out)]) == 0
    return out


def test_rig_passes_the_gltf_validator(rig_file):
    report = validate(rig_file)
    assert report["numErrors"] == 0, report["messages"]
    assert report["numWarnings"] == 0, report["messages"]


def test_rig_holds_the_neutral_face_and_one_named_target_per_expression(rig_file, tiny_model):
    model = tiny_model
    gltf, binary = read_glb(rig_file.read_bytes())
    base = base_expression(model)
    names = [n for n in LatentNavigator(model).expression_presets() if n != base]
    mesh = gltf["meshes"][0]
    primitive = mesh["primitives"][0]
    assert mesh["extras"]["targetNames"] == names
    assert len(primitive["targets"]) == len(names) == len(mesh["weights"])
    assert set(primitive["attributes"]) == {"POSITION", "NORMAL", "COLOR_0"}
    extras = gltf["asset"]["extras"]
    assert extras["length_unit"] == "metre" and extras["millimetres_per_unit"] == 1000.0

    neutral_codes = model.codes(1, base).replace(z_exp=LatentNavigator(model).expression_presets()[base])
    neutral = model.mesh(neutral_codes, RESOLUTION, topology="template")

    def accessor(index: int) -> np.ndarray:
        a = gltf["accessors"][index]
        view = gltf["bufferViews"][a["bufferView"]]
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[a["type"]]
        dtype = {5126: np.float32, 5125: np.uint32, 5121: np.uint8}[a["componentType"]]
        raw = np.frombuffer(binary, dtype=dtype, count=a["count"] * width, offset=view["byteOffset"])
        return raw.reshape(a["count"], width) if width > 1 else raw

    positions = accessor(primitive["attributes"]["POSITION"])
    assert len(positions) == len(neutral.vertices)
    np.testing.assert_allclose(positions, neutral.vertices * METRES_PER_UNIT, atol=1e-6)
    np.testing.assert_array_equal(accessor(primitive["indices"]).reshape(-1, 3), neutral.faces)
    # the first target: that expression's template-topology face minus the neutral one (same identity)
    smile_codes = neutral_codes.replace(z_exp=LatentNavigator(model).expression_presets()[names[0]])
    expressive = model.mesh(smile_codes, RESOLUTION, topology="template")
    delta = accessor(primitive["targets"][0]["POSITION"])
    np.testing.assert_allclose(delta, (expressive.vertices - neutral.vertices) * METRES_PER_UNIT, atol=1e-6)
    assert np.abs(delta).max() > 1e-4  # the expression moves the face (more than 0.1 mm)

    # an independent reader: trimesh loads the same vertex count, triangles and target names
    scene = trimesh.load(rig_file, process=False)
    (loaded,) = scene.geometry.values()
    assert len(loaded.vertices) == len(neutral.vertices) and len(loaded.faces) == len(neutral.faces)
    assert list(loaded.metadata["targetNames"]) == names


def test_rig_of_a_codes_file_has_the_same_topology(rig_file, tiny_model_path, tiny_model, tmp_path):
    from imface_core.engine.transfer import save_codes

    codes = tmp_path / "fit_codes.npz"
    save_codes(codes, tiny_model.codes(2, 1))
    out = tmp_path / "fit.glb"
    assert cli_main(["rig", "--model", str(tiny_model_path), "--codes", str(codes), "--expressions",
                     tiny_model.expressions[-1], "--resolution", str(RESOLUTION), "--device", "cpu", "--out",
                     str(out)]) == 0
    a, _ = read_glb(rig_file.read_bytes())
    b, _ = read_glb(out.read_bytes())
    assert b["meshes"][0]["extras"]["targetNames"] == [tiny_model.expressions[-1]]
    count = lambda g: g["accessors"][g["meshes"][0]["primitives"][0]["attributes"]["POSITION"]]["count"]  # noqa: E731
    assert count(a) == count(b)
    assert a["asset"]["extras"]["template_topology"] == b["asset"]["extras"]["template_topology"]
    assert validate(out)["numErrors"] == 0


def test_rig_refuses_bad_requests_before_loading(tiny_model_path, tmp_path, capsys):
    assert cli_main(["rig", "--model", str(tiny_model_path), "--identity", "0", "--out", str(tmp_path / "f.obj")]) == 2
    assert ".glb" in capsys.readouterr().err
    assert cli_main(["rig", "--model", str(tiny_model_path), "--identity", "0", "--expressions", "nope",
                     "--resolution", "32", "--device", "cpu", "--out", str(tmp_path / "f.glb")]) == 2
    assert "unknown expression" in capsys.readouterr().err
    assert not (tmp_path / "f.glb").exists()
