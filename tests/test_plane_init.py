"""The detail plane started from the training residuals: the basis finds recurring fine patterns, the field
still starts at zero, and a polish from it lowers the fine error."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from imface_core.cli import main as cli_main
from imface_core.training.detail_polish import DetailPolisher, PolishSettings
from imface_core.training.plane_init import ResidualMaps, band_windows, code_mix, fine_basis, residual_maps
from imface_core.training.trainer import Trainer


def _planted_maps(scans: int = 30, rows: int = 40, columns: int = 50) -> tuple[ResidualMaps, torch.Tensor, torch.Tensor]:
    """Maps of ``scans`` scans: two fine stripe patterns in random amounts on a strong smooth ramp, plus noise,
    over the left 40 columns (the rest is never reached)."""
    g = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.arange(rows, dtype=torch.float32), torch.arange(columns, dtype=torch.float32),
                          indexing="ij")
    face = x < 40
    stripes = torch.stack([torch.cos(2 * torch.pi * y / 5.0), torch.cos(2 * torch.pi * (x + y) / 4.0)]) * face
    ramp = (x / columns + y / rows) * face
    amounts = torch.randn(scans, 2, generator=g)
    images = amounts @ stripes.view(2, -1) + 5.0 * torch.rand(scans, 1, generator=g) * ramp.view(1, -1)
    images = images + 0.05 * torch.randn(images.shape, generator=g)
    weight = 2.0 * face.view(1, -1).float().expand(scans, -1).clone()
    return ResidualMaps(weight * images, weight, rows, columns), stripes.view(2, -1), ramp.view(-1)


def test_fine_basis_spans_recurring_fine_patterns_and_drops_the_smooth_band():
    maps, stripes, ramp = _planted_maps()
    found = fine_basis(maps, channels=2, highpass_texels=3.0, smooth_texels=0.5)
    features, energy = found.features, found.energy
    assert features.shape == (40, 50, 2)
    basis = features.view(-1, 2)
    assert torch.equal(features[:, 40:], torch.zeros(40, 10, 2))  # texels no point reaches stay zero
    inner = torch.zeros(40, 50, dtype=torch.bool)
    inner[6:-6, 6:34] = True  # away from the face's border, where the high-pass leaves an edge
    b, s = basis[inner.view(-1)], stripes[:, inner.view(-1)]
    q, _ = torch.linalg.qr(b)
    for pattern in s:  # each planted pattern lies (almost) in the span of the two channels
        assert (pattern - q @ (q.T @ pattern)).norm() < 0.25 * pattern.norm()
    r = ramp[inner.view(-1)] - ramp[inner.view(-1)].mean()
    assert (q.T @ r).norm() < 0.1 * r.norm()  # the smooth ramp, the strongest signal, is not in the basis
    assert basis[inner.view(-1)].pow(2).mean().sqrt() == pytest.approx(1.0, rel=0.3)
    assert 0.5 < energy <= 1.0
    # each scan's weights rebuild its own stripes from the two channels
    rebuilt = found.coefficients @ features.view(-1, 2).T  # (scans, texels)
    planted = (maps.weighted / maps.weight.clamp(min=1e-9))[:, inner.view(-1)]
    planted_stripes = planted - planted.mean(1, keepdim=True)
    amounts = torch.linalg.lstsq(s.T, planted_stripes.T).solution.T  # the planted amounts, recovered
    target = amounts @ s
    # the same stripes in each scan (the 0.5-texel smoothing takes ~25 % off their amplitude)
    agreement = torch.nn.functional.cosine_similarity(rebuilt[:, inner.view(-1)], target, dim=1)
    assert agreement.min() > 0.95, agreement
    gain = rebuilt[:, inner.view(-1)].norm(dim=1) / target.norm(dim=1)
    assert 0.6 < gain.median() < 1.05, gain


def test_code_mix_turns_scan_weights_into_codes_of_the_usual_spread():
    g = torch.Generator().manual_seed(1)
    weights = torch.randn(50, 6, generator=g) @ torch.randn(6, 8, generator=g)  # rank 6, 8 channels
    codes, mix = code_mix(weights, code_dim=10, code_scale=100.0, code_rms=0.01)
    assert codes.shape == (50, 10) and mix.shape == (8, 10)
    torch.testing.assert_close((codes * 100.0) @ mix.T, weights, atol=1e-4, rtol=1e-4)  # rank 6 <= 10: exact
    assert codes.pow(2).mean().sqrt() == pytest.approx(0.01, rel=1e-4)
    small_codes, small_mix = code_mix(weights, code_dim=3, code_scale=100.0, code_rms=0.01)  # rank-3 best fit
    residual = (small_codes * 100.0) @ small_mix.T - weights
    singular = torch.linalg.svdvals(weights)
    assert residual.norm() == pytest.approx(float(singular[3:].norm()), rel=1e-3)


def test_bands_split_the_channels_between_smooth_overlapping_windows():
    windows = band_windows(rows=50, first=5, last=45, bands=3)
    torch.testing.assert_close(windows.sum(0), torch.ones(50))  # a partition of unity
    assert windows[0, :5].eq(1).all() and windows[0, 25:].eq(0).all() and windows[2, 46:].eq(1).all()
    maps, stripes, _ = _planted_maps()
    basis = fine_basis(maps, channels=6, bands=3, highpass_texels=3.0, smooth_texels=0.5)
    features, energy = basis.features, basis.energy
    lower, upper = features[..., :2], features[..., 4:]  # bands centred on rows 0, 19.5 and 39
    assert lower[20:].abs().max() == 0 and upper[:20].abs().max() == 0  # each band's channels stay in its window
    assert lower[:10].abs().max() > 0 and upper[-10:].abs().max() > 0
    assert 0.5 < energy <= 1.0
    with pytest.raises(ValueError, match="bands"):
        fine_basis(maps, channels=2, bands=3)


def test_fine_basis_refuses_more_channels_than_scans():
    maps, _, _ = _planted_maps(scans=3)
    with pytest.raises(ValueError, match="at least as many scans"):
        fine_basis(maps, channels=4)


def test_residual_maps_put_a_scans_points_on_the_plane(tmp_path, tiny_run_dir, tiny_data_dir):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_run_dir / "checkpoint.pt", run / "checkpoint.pt")
    t = Trainer(tiny_data_dir, run, None, resume=True, progress=False, device=torch.device("cpu"))
    with pytest.raises(ValueError, match="detail plane"):
        residual_maps(t.net, t.codes, t.data, points_per_scan=16)
    t.replace_detail_field(plane_channels=2)
    maps = residual_maps(t.net, t.codes, t.data, points_per_scan=500)
    assert maps.weighted.shape == maps.weight.shape == (len(t.data), maps.rows * maps.columns)
    torch.testing.assert_close(maps.weight.sum(1), torch.full((len(t.data),), 500.0))  # every point lands once
    assert maps.weighted.abs().sum() > 0
    # asking for more points than a scan holds splats each of its points once, none twice
    held = torch.tensor([float(len(a["surface_points"])) for a in t.data.arrays])
    every = residual_maps(t.net, t.codes, t.data, points_per_scan=10 ** 7, chunk_points=1000)
    torch.testing.assert_close(every.weight.sum(1), held)
    rng = np.random.default_rng(0)
    some = t.data.distinct_surface_points(0, 300, rng)
    assert len(some) == 300 and len({tuple(p) for p in some.tolist()}) == 300


def test_polish_from_a_residual_basis_starts_at_the_coarse_error_and_lowers_it(tmp_path, tiny_run_dir, tiny_data_dir):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(tiny_run_dir / "checkpoint.pt", run / "checkpoint.pt")
    settings = PolishSettings(steps=40, batch_scans=4, points=256, cache_points=1024, lr_net=2e-3, lr_codes=2e-3,
                              warmup_steps=5, check_scans=8, log_every=10, fresh_field=True, plane_channels=3,
                              plane_init="residuals", residual_points=2000)
    polisher = DetailPolisher(run, tiny_data_dir, settings, device=torch.device("cpu"), progress=False)
    assert polisher.trainer.net.detail_plane.features.abs().sum() > 0
    assert polisher.optimizer.param_groups[2]["lr"] == settings.lr_net  # the basis trains at the field's rate
    record = polisher.run()
    assert 0 < record["plane_basis_energy"] <= 1
    assert record["error_after_mm"] < 0.9 * record["error_before_mm"], record
    # going on without the start flags keeps how the field started (and its plane's learning rate)
    resumed = DetailPolisher(run, tiny_data_dir, PolishSettings(steps=50), device=torch.device("cpu"), progress=False)
    assert resumed.settings.fresh_field and resumed.settings.plane_init == "residuals"
    assert resumed.settings.plane_channels == 3 and resumed.step == 40
    assert resumed.optimizer.param_groups[2]["base_lr"] == settings.lr_net


def test_code_mixed_plane_from_residuals_gives_each_scan_its_wrinkles_before_the_first_step(
        tmp_path, tiny_run_dir, tiny_data_dir):
    errors = {}
    for mixing in ("field", "code"):
        run = tmp_path / mixing
        run.mkdir()
        shutil.copy(tiny_run_dir / "checkpoint.pt", run / "checkpoint.pt")
        settings = PolishSettings(steps=1, batch_scans=4, points=256, cache_points=1024, check_scans=8,
                                  fresh_field=True, plane_channels=6, plane_init="residuals", residual_points=4000,
                                  plane_mixing=mixing, near_surface_mm=0.0)
        polisher = DetailPolisher(run, tiny_data_dir, settings, device=torch.device("cpu"), progress=False)
        net = polisher.trainer.net
        assert (net.detail_plane.mix is not None) == (mixing == "code") and net.cfg.det_plane_mixing == mixing
        polisher.prepare()
        errors[mixing] = polisher.record["error_before_mm"]
    # blend-field mixing starts at zero detail (the coarse error); code mixing starts with the projected maps
    assert errors["code"] < 0.97 * errors["field"], errors


def test_a_fixed_plane_and_codes_keep_the_start_and_a_restart_reuses_the_residual_maps(
        tmp_path, tiny_run_dir, tiny_data_dir, monkeypatch):
    settings = PolishSettings(steps=6, batch_scans=4, points=256, cache_points=1024, check_scans=4, warmup_steps=1,
                              fresh_field=True, plane_channels=6, plane_init="residuals", residual_points=3000,
                              plane_mixing="code", plane_smooth_texels=0.35, plane_lr_scale=0.0, lr_codes=0.0)
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(tiny_run_dir / "checkpoint.pt", first / "checkpoint.pt")
    polisher = DetailPolisher(first, tiny_data_dir, settings, device=torch.device("cpu"), progress=False)
    plane = polisher.trainer.net.detail_plane
    features, mix = plane.features.detach().clone(), plane.mix.weight.detach().clone()
    codes = polisher.trainer.codes.det.weight.detach().clone()
    field = [p.detach().clone() for p in polisher.trainer.net.detail_field.parameters()]
    polisher.run()
    torch.testing.assert_close(plane.features.detach(), features, rtol=0, atol=0)
    torch.testing.assert_close(plane.mix.weight.detach(), mix, rtol=0, atol=0)
    torch.testing.assert_close(polisher.trainer.codes.det.weight.detach(), codes, rtol=0, atol=0)
    assert any(not torch.equal(p.detach(), q) for p, q in zip(polisher.trainer.net.detail_field.parameters(), field))
    assert (first / "residual_maps.pt").exists()

    # a fresh start of the same run with the same maps settings reads them back instead of splatting again
    second = tmp_path / "second"
    second.mkdir()
    shutil.copy(tiny_run_dir / "checkpoint.pt", second / "checkpoint.pt")
    shutil.copy(first / "residual_maps.pt", second / "residual_maps.pt")
    import imface_core.training.plane_init as plane_init

    def no_splatting(*args, **kwargs):
        raise AssertionError("residual maps were made again")

    monkeypatch.setattr(plane_init, "residual_maps", no_splatting)
    again = DetailPolisher(second, tiny_data_dir, settings, device=torch.device("cpu"), progress=False)
    torch.testing.assert_close(again.trainer.net.detail_plane.features.detach(), features)
    # other maps settings (more points) are not served from that file
    third = tmp_path / "third"
    third.mkdir()
    shutil.copy(tiny_run_dir / "checkpoint.pt", third / "checkpoint.pt")
    shutil.copy(first / "residual_maps.pt", third / "residual_maps.pt")
    with pytest.raises(AssertionError, match="made again"):
        DetailPolisher(third, tiny_data_dir, replace(settings, residual_points=4000), device=torch.device("cpu"),
                       progress=False)


def test_plane_init_needs_a_fresh_field(tmp_path, tiny_data_dir, capsys):
    with pytest.raises(ValueError, match="fresh field"):
        PolishSettings(plane_init="residuals")
    with pytest.raises(ValueError, match="plane_init"):
        PolishSettings(fresh_field=True, plane_init="random")
    assert cli_main(["polish", "--run", str(tmp_path), "--data", str(tiny_data_dir), "--plane-init",
                     "residuals"]) == 2
    assert "needs a fresh field" in capsys.readouterr().err
    with pytest.raises(ValueError, match="plane_lr_scale"):
        PolishSettings(plane_lr_scale=-1.0)
