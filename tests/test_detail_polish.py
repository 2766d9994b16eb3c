"""Detail polish: the linearised fine SDF matches the exact one, and polishing a run improves its detail."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from imface_core import FaceModel
from imface_core.checkpoint import load_checkpoint
from imface_core.cli import main as cli_main
from imface_core.training.detail_polish import (
    POLISH_KEY,
    DetailPolisher,
    PolishSettings,
    build_cache,
    linearised_fine,
)
from imface_core.training.trainer import Trainer


@pytest.fixture()
def polish_run(tmp_path, tiny_run_dir):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_run_dir / "checkpoint.pt", run / "checkpoint.pt")
    return run


def test_linearised_fine_sdf_and_normal_match_the_exact_pipeline(tmp_path, tiny_run_dir, tiny_data_dir):
    shutil.copy(tiny_run_dir / "checkpoint.pt", tmp_path / "checkpoint.pt")
    t = Trainer(tiny_data_dir, tmp_path, None, resume=True, progress=False, device=torch.device("cpu"))
    net, codes = t.net, t.codes
    with torch.no_grad():  # a clearly visible displacement (about 1 mm), not the tiny run's faint one
        net.detail_field.minis.out_weight.normal_(0.0, 0.05)
        codes.det.weight.normal_(0.0, 0.01)
    batch = t.data.batch(np.arange(3), 512, 0, np.random.default_rng(0))
    surface, normals = torch.from_numpy(batch["surface"]), torch.from_numpy(batch["normals"])
    identity = torch.from_numpy(batch["identity"])
    cache = build_cache(net, codes, surface, normals, identity)
    scans = torch.arange(3)
    with torch.no_grad():
        linear = linearised_fine(net, cache, codes.det.weight[scans])
    x = surface.clone().requires_grad_(True)
    exact = net.fine(x, codes.id.weight[identity], codes.exp.weight[scans], codes.det.weight[scans])
    (exact_grad,) = torch.autograd.grad(exact["sdf"].sum(), x)
    displacement_mm = 100 * linear["displacement"].abs().mean()
    assert displacement_mm > 0.05, displacement_mm
    sdf_gap_mm = 100 * (linear["sdf"] - exact["sdf"].detach()).abs().mean()
    assert sdf_gap_mm < 0.05 * displacement_mm, (sdf_gap_mm, displacement_mm)
    cos = torch.nn.functional.cosine_similarity(linear["grad"], exact_grad, dim=-1)
    assert float(cos.mean()) > 0.995, float(cos.mean())


def test_polish_lowers_the_exact_fine_error_and_changes_only_the_detail(polish_run, tiny_data_dir):
    before = load_checkpoint(polish_run / "checkpoint.pt")
    settings = PolishSettings(steps=60, batch_scans=4, points=256, cache_points=1024, lr_net=2e-3, lr_codes=2e-3,
                              warmup_steps=5, check_scans=8, log_every=10)
    record = DetailPolisher(polish_run, tiny_data_dir, settings, device=torch.device("cpu"), progress=False).run()
    assert record["step"] == 60
    assert record["error_after_mm"] < 0.9 * record["error_before_mm"], record
    after = load_checkpoint(polish_run / "checkpoint.pt")
    changed = {k for k, v in after["model_state"].items() if not torch.equal(v, before["model_state"][k])}
    assert changed and all(k.startswith("detail_field.") for k in changed), changed
    assert torch.equal(after["codes"]["id"], before["codes"]["id"])
    assert torch.equal(after["codes"]["exp"], before["codes"]["exp"])
    assert not torch.equal(after["codes"]["det"], before["codes"]["det"])
    assert after["step"] == before["step"]  # the training run itself did not move on
    rows = [json.loads(line) for line in (polish_run / "polish_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30, 40, 50, 60]
    model = FaceModel.load(polish_run / "model.pt", device="cpu")
    assert load_checkpoint(polish_run / "model.pt")[POLISH_KEY]["step"] == 60
    assert np.isfinite(model.sdf(np.zeros((4, 3), np.float32), model.mean_codes(), detail=True)).all()


def test_near_surface_points_are_cached_with_their_offset_as_target(polish_run, tiny_data_dir):
    settings = PolishSettings(steps=1, batch_scans=4, points=64, cache_points=256, near_surface_mm=1.5, check_scans=2)
    polisher = DetailPolisher(polish_run, tiny_data_dir, settings, device=torch.device("cpu"), progress=False)
    polisher.prepare()
    target = polisher.cache.target
    assert torch.equal(target[:, :128], torch.zeros_like(target[:, :128]))  # the first half stays on the surface
    assert float(target[:, 128:].abs().max()) <= 0.015 and float(target[:, 128:].abs().mean()) > 0.005
    # the coarse SDF at the moved points follows the offset (the tiny model is a rough distance field)
    sdf = polisher.cache.sdf[:, 128:]
    assert float(torch.corrcoef(torch.stack([sdf.flatten(), target[:, 128:].flatten()]))[0, 1]) > 0.5


def test_polish_resumes_where_it_stopped(polish_run, tiny_data_dir, capsys):
    common = ["polish", "--run", str(polish_run), "--data", str(tiny_data_dir), "--batch-scans", "4",
              "--points", "128", "--cache-points", "512", "--device", "cpu"]
    assert cli_main(common + ["--steps", "8"]) == 0
    assert load_checkpoint(polish_run / "checkpoint.pt")[POLISH_KEY]["step"] == 8
    assert cli_main(common + ["--steps", "8"]) == 0
    assert "already polished to step 8" in capsys.readouterr().out
    assert cli_main(common + ["--steps", "12"]) == 0
    record = load_checkpoint(polish_run / "checkpoint.pt")[POLISH_KEY]
    assert record["step"] == 12 and record["settings"]["steps"] == 12
    rows = [json.loads(line) for line in (polish_run / "polish_metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 12


def test_polish_without_a_run_says_what_to_do(tmp_path, tiny_data_dir, capsys):
    assert cli_main(["polish", "--run", str(tmp_path), "--data", str(tiny_data_dir)]) == 2
    assert "checkpoint" in capsys.readouterr().err


def test_a_fresh_field_with_a_detail_plane_learns_detail_and_shares_codes_within_a_person(polish_run, tiny_data_dir):
    settings = PolishSettings(steps=60, batch_scans=4, points=256, cache_points=1024, lr_net=2e-3, lr_codes=2e-3,
                              warmup_steps=5, check_scans=8, log_every=10, fresh_field=True, plane_channels=3,
                              person_code_std=0.05)
    record = DetailPolisher(polish_run, tiny_data_dir, settings, device=torch.device("cpu"), progress=False).run()
    assert record["error_after_mm"] < 0.9 * record["error_before_mm"], record  # from zero detail to some
    ck = load_checkpoint(polish_run / "checkpoint.pt")
    assert ck["config"]["model"]["det_plane_channels"] == 3
    assert "detail_plane.features" in ck["model_state"]
    det = ck["codes"]["det"]
    identity = np.array([ck["identities"].index(s["identity"]) for s in ck["scans"]])
    first, second = det[identity == 0], det[identity == 1]
    # scans of a person start from one shared code: they stay closer to each other than to another person's
    assert torch.cdist(first, first).mean() < 0.5 * torch.cdist(first, second).mean()
    model = FaceModel.load(polish_run / "model.pt", device="cpu")
    assert model.net.detail_plane is not None
    assert np.isfinite(model.sdf(np.zeros((4, 3), np.float32), model.codes(identity=0, expression=0))).all()


def test_a_fresh_field_resumes_without_a_second_reset(polish_run, tiny_data_dir):
    common = ["polish", "--run", str(polish_run), "--data", str(tiny_data_dir), "--batch-scans", "4",
              "--points", "64", "--cache-points", "256", "--device", "cpu", "--fresh-field", "--plane-channels", "2"]
    assert cli_main(common + ["--steps", "3"]) == 0
    first = load_checkpoint(polish_run / "checkpoint.pt")
    assert cli_main(common + ["--steps", "5"]) == 0
    second = load_checkpoint(polish_run / "checkpoint.pt")
    assert second[POLISH_KEY]["step"] == 5 and second[POLISH_KEY]["settings"]["fresh_field"]
    # two more Adam steps from the saved field, not a new random plane
    moved = (second["model_state"]["detail_plane.features"] - first["model_state"]["detail_plane.features"]).abs()
    assert 0 < float(moved.max()) < 0.05


def test_a_fresh_field_refuses_a_run_polished_without_one(polish_run, tiny_data_dir, capsys):
    common = ["polish", "--run", str(polish_run), "--data", str(tiny_data_dir), "--batch-scans", "4",
              "--points", "64", "--cache-points", "256", "--device", "cpu"]
    assert cli_main(common + ["--steps", "2"]) == 0
    assert cli_main(common + ["--steps", "4", "--fresh-field"]) != 0
    assert "without a fresh field" in capsys.readouterr().err
    assert cli_main(common + ["--steps", "4", "--plane-channels", "2"]) != 0


def test_replacing_the_detail_field_keeps_the_rest_of_the_run_resumable(tmp_path, tiny_run_dir, tiny_data_dir):
    shutil.copy(tiny_run_dir / "checkpoint.pt", tmp_path / "checkpoint.pt")
    t = Trainer(tiny_data_dir, tmp_path, None, resume=True, progress=False, device=torch.device("cpu"))
    coarse = t.net.template_field.minis.out_weight
    moments = t.optimizer.state[coarse]["exp_avg"].clone()
    t.replace_detail_field(0.0, plane_channels=2)
    assert torch.equal(t.optimizer.state[coarse]["exp_avg"], moments)
    assert t.net.detail_plane.features not in t.optimizer.state  # new parameters start afresh
    groups = {len(g["params"]) for g in t.optimizer.param_groups}
    assert len(t.optimizer.param_groups) == 3 and 1 in groups  # networks, codes, the plane at its own rate
    t.save()
    again = Trainer(tiny_data_dir, tmp_path, None, resume=True, progress=False, device=torch.device("cpu"))
    assert again.net.cfg.det_plane_channels == 2
    torch.testing.assert_close(again.optimizer.state[again.net.template_field.minis.out_weight]["exp_avg"], moments)
