"""Training: the loss falls, resume continues the same curve, DDP keeps ranks equal, bad files fail clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_config
from imface_core import FaceModel
from imface_core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from imface_core.data.dataset import DatasetError, FaceScanDataset
from imface_core.training.config import TrainConfig, preset
from imface_core.training.trainer import Trainer

TESTS = Path(__file__).resolve().parent


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_tiny_training_lowers_sdf_loss(tiny_run_dir):
    rows = metrics(tiny_run_dir)
    first = np.mean([r["sdf"] for r in rows[:3]])
    last = np.mean([r["sdf"] for r in rows[-3:]])
    assert last < 0.4 * first, (first, last)
    assert {r["stage"] for r in rows} == {1, 2}
    stage2 = [r for r in rows if r["stage"] == 2]
    for key in ("sdf_fine", "normal_fine", "eikonal_fine", "code_det", "loss", "step"):
        assert key in stage2[-1]
    assert (tiny_run_dir / "loss_curve.png").stat().st_size > 1000


def test_resume_continues_the_same_loss_curve(tmp_path, tiny_data_dir):
    cfg = tiny_config(stage1_steps=8, stage2_steps=4, log_every=1)
    straight = tmp_path / "straight"
    Trainer(tiny_data_dir, straight, cfg, progress=False).run()
    resumed = tmp_path / "resumed"
    first = Trainer(tiny_data_dir, resumed, cfg, progress=False).run(stop_at_step=6)
    assert first["step"] == 6 and not first["finished"]
    second = Trainer(tiny_data_dir, resumed, cfg, resume=True, progress=False).run()
    assert second["finished"]
    a, b = metrics(straight), metrics(resumed)
    assert [r["step"] for r in a] == [r["step"] for r in b] == list(range(1, 13))
    np.testing.assert_allclose([r["loss"] for r in b], [r["loss"] for r in a], rtol=1e-5)


def test_resume_can_lengthen_stage_two_and_grow_the_batch(tmp_path, tiny_data_dir):
    cfg = tiny_config(stage1_steps=6, stage2_steps=4, log_every=1)
    run = tmp_path / "run"
    Trainer(tiny_data_dir, run, cfg, progress=False).run()
    before = metrics(run)
    longer = Trainer(tiny_data_dir, run, cfg, resume=True, progress=False,
                     resume_overrides={"stage2_steps": 10, "surface_points": 300})
    assert longer.step == 10 and longer.cfg.total_steps == 16 and longer.cfg.surface_points == 300
    assert longer.run()["finished"]
    after = metrics(run)
    assert [r["step"] for r in after] == list(range(1, 17))
    assert after[:10] == before
    # The hand-over keeps its length in steps: the fine weight goes on rising from where it was.
    fine = [r["w_fine"] for r in after if r["stage"] == 2]
    assert fine == sorted(fine) and fine[-1] == pytest.approx(1.0)
    # The learning rate restarts its cosine from 0.3 at the resumed step and ends at the final fraction.
    lr = [r["lr_factor"] for r in after[10:]]
    assert lr[0] == pytest.approx(0.3) and lr == sorted(lr, reverse=True)
    assert cfg.lr_final_fraction <= lr[-1] < 0.12
    assert load_checkpoint(run / "checkpoint.pt")["config"]["stage2_steps"] == 10


def test_resume_refuses_a_stage_two_that_ends_before_the_current_step(tmp_path, tiny_data_dir):
    cfg = tiny_config(stage1_steps=4, stage2_steps=4, log_every=1)
    run = tmp_path / "run"
    Trainer(tiny_data_dir, run, cfg, progress=False).run()
    with pytest.raises(ValueError, match="before its current step"):
        Trainer(tiny_data_dir, run, cfg, resume=True, progress=False, resume_overrides={"stage2_steps": 2})
    with pytest.raises(ValueError, match="cannot change"):
        Trainer(tiny_data_dir, run, cfg, resume=True, progress=False, resume_overrides={"lr_net": 1.0})


def test_checkpoint_alone_rebuilds_the_model(tiny_model_path, tiny_model):
    again = FaceModel.load(tiny_model_path, device="cpu")
    pts = np.random.default_rng(0).uniform(-0.5, 0.5, (500, 3)).astype(np.float32)
    codes = tiny_model.codes(identity=1, expression=2)
    np.testing.assert_array_equal(tiny_model.sdf(pts, codes), again.sdf(pts, codes))
    ck = load_checkpoint(tiny_model_path)
    assert TrainConfig.from_dict(ck["config"]).model == tiny_model.config
    np.testing.assert_array_equal(codes.z_exp, ck["codes"]["exp"][tiny_model.scan_index(1, 2)].numpy())
    assert "optimizer" not in ck  # the inference file carries no training state


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"PK\x03\x04 this is not really a zip"), "corrupt or truncated"),
        (lambda p: torch.save({"weights": torch.zeros(3)}, p), "not an ImFace Studio model"),
        (lambda p: p.write_text("hello, I am a text file"), "not"),
    ],
)
def test_bad_checkpoint_files_fail_clearly(tmp_path, make, message):
    path = tmp_path / "model.pt"
    make(path)
    with pytest.raises(CheckpointError, match=message) as err:
        FaceModel.load(path)
    assert str(path) in str(err.value)


def test_truncated_and_newer_checkpoints_fail_clearly(tmp_path, tiny_model_path):
    data = tiny_model_path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        FaceModel.load(truncated)
    ck = load_checkpoint(tiny_model_path)
    ck.pop("kind"), ck.pop("code_version")
    newer = tmp_path / "newer.pt"
    save_checkpoint(newer, ck)
    raw = torch.load(newer, weights_only=True)
    raw["format_version"] = 99
    torch.save(raw, newer)
    with pytest.raises(CheckpointError, match="newer"):
        FaceModel.load(newer)
    with pytest.raises(CheckpointError, match="not found"):
        FaceModel.load(tmp_path / "missing.pt")


def test_bad_data_folders_fail_clearly(tmp_path, tiny_data_dir):
    with pytest.raises(DatasetError, match="no prepared scans"):
        FaceScanDataset(tmp_path)
    broken = tmp_path / "broken" / "person"
    broken.mkdir(parents=True)
    np.savez(broken / "1_neutral.npz", surface_points=np.zeros((10, 2), np.float32))
    with pytest.raises(DatasetError, match="1_neutral.npz"):
        FaceScanDataset(tmp_path / "broken")
    with pytest.raises(ValueError, match="unknown config"):
        preset("huge")


def test_resume_without_checkpoint_says_so(tmp_path, tiny_data_dir):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Trainer(tiny_data_dir, tmp_path / "nothing", tiny_config(), resume=True, progress=False)


def test_distributed_training_keeps_ranks_identical(tmp_path, tiny_data_dir):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(TESTS.parent))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29517",
           str(TESTS / "ddp_worker.py"), str(tiny_data_dir), str(tmp_path)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert set(r0["share"]).isdisjoint(r1["share"])  # each rank trains on its own scans
    for key, value in r0["state"].items():
        torch.testing.assert_close(value, r1["state"][key], rtol=0, atol=1e-6, msg=key)
    moved = [k for k, v in r0["state"].items() if not torch.equal(v, r0["initial"][k])]
    assert any(k.startswith("net.template_field") for k in moved) and "codes.exp.weight" in moved


def test_detail_frequency_of_a_new_run_is_kept_in_its_checkpoint(tmp_path, tiny_data_dir):
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "imface_core", "train", "--data", str(tiny_data_dir), "--out", str(out), "--config", "tiny",
         "--stage1-steps", "1", "--stage2-steps", "1", "--detail-frequency", "90", "--device", "cpu"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(TESTS.parent)},
    )
    assert result.returncode == 0, result.stderr
    model = FaceModel.load(out / "model.pt")
    assert model.config.det_first_omega0 == 90.0
    assert model.net.detail_field.minis.first_omega0 == 90.0 and model.net.expression_field.minis.first_omega0 == 30.0


@pytest.mark.parametrize("joint", [False, True])
def test_landmark_nets_learn_from_the_landmark_terms_alone_unless_joint(tmp_path, tiny_data_dir, joint):
    """Without ``landmark_anchor_gradients`` (the scale preset) only the landmark terms train P_exp and P_id (the
    geometry terms walked P_exp's landmarks away in a 3,600-scan run); with it (the paper's way, the small presets)
    the geometry terms pull them too."""
    from dataclasses import replace

    from imface_core.training.losses import weighted_total
    from imface_core.training.trainer import batch_to_tensors

    cfg = replace(tiny_config(), landmark_anchor_gradients=joint)
    trainer = Trainer(tiny_data_dir, tmp_path / "run", cfg, progress=False)
    trainer.run(stop_at_step=20)  # the deformation fields start at zero: train until they depend on the anchors
    batch = batch_to_tensors(trainer.data.batch(np.arange(4), 256, 128, np.random.default_rng(0)), trainer.device)
    terms = trainer.objective(batch, fine=False)
    w = cfg.weights
    landmarks = w.landmark_exp * terms["landmark_exp"] + w.landmark_id * terms["landmark_id"]
    geometry = weighted_total(terms, w) - landmarks
    nets = list(trainer.net.landmark_net_exp.parameters()) + list(trainer.net.landmark_net_id.parameters())
    from_geometry = torch.autograd.grad(geometry, nets, retain_graph=True, allow_unused=True)
    from_landmarks = torch.autograd.grad(landmarks, nets)
    geometry_norm = sum(float(g.norm()) for g in from_geometry if g is not None)
    assert sum(float(g.norm()) for g in from_landmarks) > 0
    assert (geometry_norm > 0) == joint, geometry_norm
