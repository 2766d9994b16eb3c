"""Tests of the ImFace++ networks: batched FiLM-SIRENs, blend fields and ImFaceNet (CPU, tiny widths)."""

from __future__ import annotations

import math

import pytest
import torch

import imface_core.model.blend_field as blend_field_module
import imface_core.model.imface_net as imface_net_module
from imface_core.model import BatchedFiLMSiren, ImFaceNet, ModelConfig, NeuralBlendField
from imface_core.model.detail_plane import DetailPlane

K = 5


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread is fastest and avoids OpenMP stalls when the CPU is shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_config(**overrides) -> ModelConfig:
    values = dict(
        id_dim=10,
        exp_dim=15,
        det_dim=5,
        exp_width=16,
        id_width=16,
        tmpl_width=16,
        det_width=16,
        exp_depth=2,
        id_depth=2,
        tmpl_depth=2,
        det_depth=2,
        mapping_width=16,
        fusion_width=16,
        landmark_net_width=32,
    )
    values.update(overrides)
    return ModelConfig(**values)


def make_net(seed: int = 0, **overrides) -> ImFaceNet:
    torch.manual_seed(seed)
    # eye corners, nose tip, mouth corners (normalised units, nose tip at z = 0.4)
    lm5 = torch.tensor(
        [[-0.45, 0.35, 0.1], [0.45, 0.35, 0.1], [0.0, 0.0, 0.4], [-0.25, -0.35, 0.15], [0.25, -0.35, 0.15]]
    )
    lm68 = torch.rand(68, 3) - 0.5
    return ImFaceNet(tiny_config(**overrides), lm5, lm68)


def randomize_zero_layers(net: ImFaceNet) -> None:
    """Give every zero-initialised output layer random weights (a 'trained' network)."""
    with torch.no_grad():
        for field in (net.expression_field, net.identity_field, net.detail_field):
            field.minis.out_weight.normal_(0.0, 0.05)
            field.minis.out_bias.normal_(0.0, 0.05)
        for lm_net in (net.landmark_net_exp, net.landmark_net_id):
            lm_net[-1].weight.normal_(0.0, 0.05)


def codes(cfg: ModelConfig, b: int, seed: int = 1, scale: float = 0.5) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, d, generator=g) * scale for d in (cfg.id_dim, cfg.exp_dim, cfg.det_dim))


def points(b: int, n: int, seed: int = 2) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, n, 3, generator=g) * 1.6 - 0.8


# ---------------------------------------------------------------- config


def test_config_round_trip_and_validation():
    cfg = tiny_config(omega0=25.0)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert ModelConfig.from_dict({}) == ModelConfig()
    with pytest.raises(ValueError, match="det_first_omega0"):
        ModelConfig(det_first_omega0=0.0)
    with pytest.raises(ValueError, match="bogus"):
        ModelConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    assert ModelConfig.from_dict({**cfg.to_dict(), "bogus": 1}, strict=False) == cfg
    with pytest.raises(ValueError, match="id_dim"):
        ModelConfig(id_dim=12)
    with pytest.raises(ValueError, match="se3"):
        ModelConfig(deformation="se3")


# ---------------------------------------------------------------- batched SIREN and blend field


def reference_minis(siren: BatchedFiLMSiren, x, offsets, code):
    """Straightforward per-region FiLM-SIREN, for checking the folded batched version."""
    outs = []
    for k in range(siren.num_nets):
        h = x - offsets[:, k, None, :]
        if code is not None:
            gamma, beta = siren.mapping(code)
            gamma, beta = gamma[:, k], beta[:, k]  # (B, depth, W)
        for i, (w, b) in enumerate(zip(siren.hidden_weights, siren.hidden_biases)):
            pre = h @ w[k] + b[k]
            omega = siren.first_omega0 if i == 0 else siren.omega0
            if code is None:
                h = torch.sin(omega * pre)
            else:
                h = torch.sin(omega * gamma[:, None, i] * pre + beta[:, None, i])
        outs.append(h @ siren.out_weight[k] + siren.out_bias[k])
    return torch.stack(outs, dim=1)


@pytest.mark.parametrize("first_omega0", [None, 120.0])
@pytest.mark.parametrize("code_dim", [0, 4])
def test_batched_siren_matches_per_region_reference(code_dim, first_omega0):
    torch.manual_seed(0)
    siren = BatchedFiLMSiren(K, 3, 2, width=8, depth=3, code_dim=code_dim, mapping_width=8, first_omega0=first_omega0)
    x, offsets = torch.rand(2, 7, 3) - 0.5, torch.rand(2, K, 3) - 0.5
    code = torch.randn(2, K, code_dim) if code_dim else None
    out = siren(x, offsets, code)
    assert out.shape == (2, K, 7, 2)
    torch.testing.assert_close(out, reference_minis(siren, x, offsets, code), rtol=1e-4, atol=1e-5)


def test_siren_init_bounds():
    siren = BatchedFiLMSiren(K, 3, 1, width=32, depth=3, omega0=30.0)
    assert siren.hidden_weights[0].abs().max() <= 1.0 / 3
    assert siren.hidden_weights[1].abs().max() <= math.sqrt(6.0 / 32) / 30.0
    zero = BatchedFiLMSiren(K, 3, 1, width=32, depth=3, zero_init_output=True)
    assert not zero.out_weight.any() and not zero.out_bias.any()


def test_blend_field_shapes_and_weights():
    torch.manual_seed(0)
    field = NeuralBlendField(3, 10, K, width=16, depth=2, fusion_width=16, mapping_width=8)
    x, anchors, code = points(2, 50), torch.rand(2, K, 3), torch.randn(2, 10)
    assert field(x, anchors, code).shape == (2, 50, 3)
    w = field.blend_weights(x)
    assert w.shape == (2, 50, K)
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 50))


def test_blend_field_zero_init_is_exactly_zero():
    field = NeuralBlendField(4, 10, K, width=16, depth=2, fusion_width=16, zero_init_output=True)
    out = field(points(2, 30), torch.rand(2, K, 3), torch.randn(2, 10))
    assert torch.equal(out, torch.zeros(2, 30, 4))


def test_blend_field_without_code_rejects_code_and_vice_versa():
    plain = NeuralBlendField(1, 0, K, width=8, depth=1, fusion_width=8)
    assert plain(points(1, 5), torch.rand(1, K, 3)).shape == (1, 5, 1)
    with pytest.raises(ValueError):
        plain(points(1, 5), torch.rand(1, K, 3), torch.randn(1, 5))
    coded = NeuralBlendField(1, 10, K, width=8, depth=1, fusion_width=8)
    with pytest.raises(ValueError):
        coded(points(1, 5), torch.rand(1, K, 3))
    with pytest.raises(ValueError, match="divisible"):
        NeuralBlendField(1, 12, K)


def test_region_code_slice_only_changes_its_own_mininet():
    torch.manual_seed(0)
    field = NeuralBlendField(3, 20, K, width=16, depth=2, fusion_width=16, mapping_width=8)
    x, anchors = points(1, 40), torch.rand(1, K, 3)
    code = torch.randn(1, 20)
    k = 2
    changed = code.clone()
    changed[:, 4 * k : 4 * (k + 1)] += 1.0
    minis = field.minis(x, anchors, code.view(1, K, 4))
    minis_changed = field.minis(x, anchors, changed.view(1, K, 4))
    for j in range(K):
        same = torch.equal(minis[:, j], minis_changed[:, j])
        assert same == (j != k), f"region {j}"
    assert not torch.allclose(field(x, anchors, code), field(x, anchors, changed))


def test_blend_field_chunking_matches_single_chunk(monkeypatch):
    torch.manual_seed(0)
    field = NeuralBlendField(2, 10, K, width=16, depth=2, fusion_width=16, mapping_width=8)
    x, anchors, code = points(2, 1000), torch.rand(2, K, 3), torch.randn(2, 10)
    whole = field(x, anchors, code)
    monkeypatch.setattr(blend_field_module, "_CHUNK_ELEMENTS", 2 * K * 16 * 300)  # 300-point chunks
    torch.testing.assert_close(field(x, anchors, code), whole, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- ImFaceNet


def test_imface_net_shapes():
    net = make_net()
    cfg = net.cfg
    b, n = 2, 64
    x = points(b, n)
    z_id, z_exp, z_det = codes(cfg, b)
    l_exp, l_id = net.predict_landmarks(z_id, z_exp)
    assert l_exp.shape == l_id.shape == (b, K, 3)
    x_c = net.to_canonical(x, z_exp, l_exp)
    assert x_c.shape == (b, n, 3)
    x_t, delta = net.to_template(x_c, z_id, l_id)
    assert x_t.shape == (b, n, 3) and delta.shape == (b, n)
    assert net.template_sdf(x_t).shape == (b, n)
    out = net.coarse(x, z_id, z_exp)
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        "sdf": (b, n),
        "x_c": (b, n, 3),
        "x_t": (b, n, 3),
        "delta": (b, n),
    }
    fine = net.fine(x, z_id, z_exp, z_det)
    for key in ("sdf", "sdf_coarse", "displacement", "delta", "delta_fine"):
        assert fine[key].shape == (b, n), key
    for key in ("normal", "x_c", "x_t", "x_fine", "x_c_fine", "x_t_fine"):
        assert fine[key].shape == (b, n, 3), key
    assert net.template_landmarks5.shape == (K, 3) and net.template_landmarks68.shape == (68, 3)
    assert {"template_landmarks5", "template_landmarks68"} <= set(net.state_dict())


def test_imface_net_starts_with_no_deformation_or_correction():
    net = make_net()
    cfg = net.cfg
    x = points(2, 64)
    z_id, z_exp, z_det = codes(cfg, 2)
    l_exp, l_id = net.predict_landmarks(z_id, z_exp)
    tmpl = net.template_landmarks5.expand(2, -1, -1)
    assert torch.equal(l_exp, tmpl) and torch.equal(l_id, tmpl)
    out = net.coarse(x, z_id, z_exp)
    assert torch.equal(out["x_c"], x)
    assert torch.equal(out["x_t"], out["x_c"])
    assert torch.equal(out["delta"], torch.zeros(2, 64))
    torch.testing.assert_close(out["sdf"], net.template_sdf(x), rtol=0, atol=0)
    fine = net.fine(x, z_id, z_exp, z_det)
    assert torch.equal(fine["displacement"], torch.zeros(2, 64))
    assert torch.equal(fine["sdf"], fine["sdf_coarse"])
    torch.testing.assert_close(fine["sdf"], out["sdf"], rtol=0, atol=0)


def test_gradients_reach_points_codes_and_every_parameter():
    net = make_net()
    randomize_zero_layers(net)
    cfg = net.cfg
    x = points(2, 64).requires_grad_(True)
    z_id, z_exp, z_det = (z.requires_grad_(True) for z in codes(cfg, 2))
    fine = net.fine(x, z_id, z_exp, z_det)
    assert fine["displacement"].abs().max() > 0
    loss = fine["sdf"].abs().mean() + fine["delta"].abs().mean()
    loss.backward()
    for name, tensor in (("x", x), ("z_id", z_id), ("z_exp", z_exp), ("z_det", z_det)):
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0, name
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_landmark_and_code_gradients_in_coarse_pass():
    net = make_net()
    randomize_zero_layers(net)
    x = points(1, 32)
    z_id, z_exp, _ = (z.requires_grad_(True) for z in codes(net.cfg, 1))
    net.coarse(x, z_id, z_exp)["sdf"].sum().backward()
    assert z_id.grad.abs().sum() > 0 and z_exp.grad.abs().sum() > 0
    assert net.landmark_net_exp[0].weight.grad.abs().sum() > 0
    assert net.detail_field.minis.out_weight.grad is None  # the coarse pass does not use the RDF


def test_gradient_in_canonical_space_and_double_backward():
    net = make_net()
    randomize_zero_layers(net)
    x = points(2, 32).requires_grad_(True)
    z_id, z_exp, _ = codes(net.cfg, 2)
    out = net.coarse(x, z_id, z_exp)
    ones = torch.ones_like(out["sdf"])
    (g_c,) = torch.autograd.grad(out["sdf"], out["x_c"], ones, create_graph=True)
    (g_x,) = torch.autograd.grad(out["sdf"], x, ones, create_graph=True)
    assert g_c.shape == g_x.shape == (2, 32, 3)
    assert not torch.allclose(g_c, g_x)  # E deforms space, so the two gradients differ
    eikonal = (g_c.norm(dim=-1) - 1).abs().mean() + (g_x.norm(dim=-1) - 1).abs().mean()
    eikonal.backward()
    assert net.expression_field.minis.hidden_weights[0].grad.abs().sum() > 0


def test_fine_gradient_in_canonical_space():
    net = make_net()
    randomize_zero_layers(net)
    x = points(1, 32).requires_grad_(True)
    z_id, z_exp, z_det = codes(net.cfg, 1)
    fine = net.fine(x, z_id, z_exp, z_det)
    (g,) = torch.autograd.grad(fine["sdf"], fine["x_c_fine"], torch.ones_like(fine["sdf"]), create_graph=True)
    assert g.shape == (1, 32, 3) and torch.isfinite(g).all()
    (gx,) = torch.autograd.grad(fine["sdf"].sum(), x, create_graph=True)
    gx.norm(dim=-1).mean().backward()
    assert net.detail_field.minis.out_weight.grad.abs().sum() > 0


def test_fine_without_grad_and_in_inference_mode_matches_grad_mode():
    net = make_net()
    randomize_zero_layers(net)
    x = points(2, 48)
    z_id, z_exp, z_det = codes(net.cfg, 2)
    with_grad = net.fine(x, z_id, z_exp, z_det)
    with torch.no_grad():
        no_grad = net.fine(x, z_id, z_exp, z_det)
    with torch.inference_mode():
        inference = net.fine(x, z_id, z_exp, z_det)
        inference_2 = net.fine(inference["x_fine"], z_id, z_exp, z_det)  # inference tensors in, too
    assert inference_2["sdf"].shape == (2, 48)
    for key in ("sdf", "displacement", "normal", "x_t"):
        assert not no_grad[key].requires_grad and not inference[key].requires_grad
        torch.testing.assert_close(no_grad[key], with_grad[key].detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(inference[key], no_grad[key], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(no_grad["normal"].norm(dim=-1), torch.ones(2, 48), rtol=1e-5, atol=1e-5)
    assert not any(p.grad is not None for p in net.parameters())


def test_fine_detail_scale_and_bounds():
    net = make_net()
    randomize_zero_layers(net)
    with torch.no_grad():
        net.detail_field.minis.out_weight.mul_(100.0)  # push tanh into saturation
    x = points(1, 200)
    z_id, z_exp, z_det = codes(net.cfg, 1)
    with torch.no_grad():
        fine = net.fine(x, z_id, z_exp, z_det)
        off = net.fine(x, z_id, z_exp, z_det, detail_scale=0.0)
        half = net.fine(x, z_id, z_exp, z_det, detail_scale=0.5)
    assert fine["displacement"].abs().max() <= net.cfg.detail_max
    assert fine["displacement"].abs().max() > 0
    torch.testing.assert_close(half["displacement"], 0.5 * fine["displacement"])
    torch.testing.assert_close(off["sdf"], off["sdf_coarse"], rtol=0, atol=0)
    fade = 1.0 / (1.0 + (fine["sdf_coarse"] / net.cfg.detail_fade) ** 4)
    assert (fine["displacement"].abs() <= net.cfg.detail_max * fade + 1e-7).all()


def test_fine_chunked_without_grad_matches_unchunked(monkeypatch):
    net = make_net()
    randomize_zero_layers(net)
    x = points(2, 100)
    z_id, z_exp, z_det = codes(net.cfg, 2)
    with torch.no_grad():
        whole = net.fine(x, z_id, z_exp, z_det)
        monkeypatch.setattr(imface_net_module, "_FINE_CHUNK_POINTS", 30)
        chunked = net.fine(x, z_id, z_exp, z_det)
    assert set(chunked) == set(whole)
    for key in whole:
        torch.testing.assert_close(chunked[key], whole[key], rtol=1e-5, atol=1e-6)


def test_batched_equals_per_scan():
    net = make_net()
    randomize_zero_layers(net)
    x = points(2, 40)
    z_id, z_exp, z_det = codes(net.cfg, 2)
    both_coarse = net.coarse(x, z_id, z_exp)
    both_fine = net.fine(x, z_id, z_exp, z_det)
    for i in range(2):
        one = slice(i, i + 1)
        single_coarse = net.coarse(x[one], z_id[one], z_exp[one])
        single_fine = net.fine(x[one], z_id[one], z_exp[one], z_det[one])
        for key in both_coarse:
            torch.testing.assert_close(single_coarse[key], both_coarse[key][one], rtol=1e-5, atol=1e-6)
        for key in both_fine:  # the normal amplifies float noise where |grad s| is small
            torch.testing.assert_close(single_fine[key], both_fine[key][one], rtol=1e-4, atol=1e-5)


def test_precomputed_landmarks_give_the_same_result():
    net = make_net()
    randomize_zero_layers(net)
    x = points(1, 40)
    z_id, z_exp, z_det = codes(net.cfg, 1)
    lm = net.predict_landmarks(z_id, z_exp)
    torch.testing.assert_close(net.coarse(x, z_id, z_exp, lm)["sdf"], net.coarse(x, z_id, z_exp)["sdf"])
    fine_given, fine_predicted = net.fine(x, z_id, z_exp, z_det, lm), net.fine(x, z_id, z_exp, z_det)
    torch.testing.assert_close(fine_given["sdf"], fine_predicted["sdf"])


def test_state_dict_round_trip_through_config():
    net = make_net(seed=3)
    randomize_zero_layers(net)
    clone = ImFaceNet(
        ModelConfig.from_dict(net.cfg.to_dict()), torch.zeros(K, 3), torch.zeros(68, 3)
    )
    clone.load_state_dict(net.state_dict())
    x = points(1, 20)
    z_id, z_exp, _ = codes(net.cfg, 1)
    torch.testing.assert_close(clone.coarse(x, z_id, z_exp)["sdf"], net.coarse(x, z_id, z_exp)["sdf"])
    assert torch.equal(clone.template_landmarks5, net.template_landmarks5)


def test_parameter_groups_partition_the_network():
    net = make_net()
    coarse, detail = net.coarse_parameters(), net.detail_parameters()
    assert len(coarse) + len(detail) == len(list(net.parameters()))
    assert {id(p) for p in coarse}.isdisjoint(id(p) for p in detail)


def test_bad_template_landmarks_are_rejected():
    with pytest.raises(ValueError, match="template_landmarks5"):
        ImFaceNet(tiny_config(), torch.zeros(4, 3), torch.zeros(68, 3))


def test_follows_the_device_of_its_inputs():
    """No tensor is created on a fixed device: the whole pipeline runs on the 'meta' device."""
    net = make_net().to("meta")
    x = points(2, 10).to("meta")
    z_id, z_exp, z_det = (z.to("meta") for z in codes(net.cfg, 2))
    assert net.coarse(x, z_id, z_exp)["sdf"].device.type == "meta"
    with torch.no_grad():
        fine = net.fine(x, z_id, z_exp, z_det)
    assert fine["sdf"].device.type == "meta" and fine["normal"].device.type == "meta"


def test_fine_create_graph_differentiates_through_the_normal():
    net = make_net()
    randomize_zero_layers(net)
    x = points(1, 16)
    z_id, z_exp, z_det = codes(net.cfg, 1)
    detached = net.fine(x, z_id, z_exp, z_det)
    through = net.fine(x, z_id, z_exp, z_det, create_graph=True)
    assert not detached["normal"].requires_grad
    assert through["normal"].requires_grad
    torch.testing.assert_close(through["sdf"], detached["sdf"])
    through["normal"].sum().backward()
    assert net.template_field.minis.hidden_weights[0].grad.abs().sum() > 0


def test_reset_detail_field_gives_a_fresh_field_of_the_new_size_that_a_checkpoint_rebuilds():
    net = make_net(seed=4)
    randomize_zero_layers(net)
    x = points(1, 30)
    z_id, z_exp, _ = codes(net.cfg, 1)
    coarse_before = net.coarse(x, z_id, z_exp)["sdf"]
    old_detail = net.detail_parameters()
    net.reset_detail_field(width=24, code_dim=2 * K, first_omega0=90.0)
    assert (net.cfg.det_width, net.cfg.det_dim, net.cfg.det_first_omega0) == (24, 2 * K, 90.0)
    assert {id(p) for p in net.detail_parameters()}.isdisjoint(id(p) for p in old_detail)
    assert {id(p) for p in net.parameters()} == {id(p) for p in net.coarse_parameters() + net.detail_parameters()}
    z_det = torch.randn(1, 2 * K) * 0.5
    out = net.fine(x, z_id, z_exp, z_det)
    assert torch.equal(out["displacement"], torch.zeros_like(out["displacement"]))  # zero-initialised output
    torch.testing.assert_close(out["sdf"], coarse_before)  # the coarse model is untouched
    clone = ImFaceNet(ModelConfig.from_dict(net.cfg.to_dict()), torch.zeros(K, 3), torch.zeros(68, 3))
    clone.load_state_dict(net.state_dict())  # shapes match the new config


# ---------------------------------------------------------------- detail plane


def test_detail_plane_reads_texels_exactly_and_interpolates_linearly_between_them():
    torch.manual_seed(0)
    plane = DetailPlane(3, half_width=0.1, half_height=0.05, texel=0.05, init_std=1.0)
    assert tuple(plane.features.shape) == (3, 5, 3)  # rows (y), columns (x), channels
    f = plane.features.detach()
    corner = torch.tensor([[-0.1, -0.05, 0.7]])  # (column 0, row 0); z is ignored
    torch.testing.assert_close(plane(corner)[0], f[0, 0])
    texel = torch.tensor([[0.0, 0.05, -0.3]])  # column 2, row 2 (the last row)
    torch.testing.assert_close(plane(texel)[0], f[2, 2], atol=1e-3, rtol=0)
    between = torch.tensor([[-0.075, 0.0, 0.0]])  # half-way between columns 0 and 1 of row 1
    torch.testing.assert_close(plane(between)[0], 0.5 * (f[1, 0] + f[1, 1]))
    outside = torch.tensor([[5.0, 5.0, 0.0]])  # beyond the rectangle: the nearest border texel
    torch.testing.assert_close(plane(outside)[0], f[-1, -1], atol=1e-3, rtol=0)


def test_detail_plane_is_differentiable_twice_in_the_point():
    torch.manual_seed(1)
    plane = DetailPlane(2, 0.2, 0.2, 0.04, init_std=1.0)
    x = (torch.rand(1, 50, 3) * 0.3 - 0.15).requires_grad_(True)
    out = (plane(x) * torch.tensor([1.0, -2.0])).sum(-1)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    # the slope along x between two texels is their difference / texel
    torch.testing.assert_close(grad[..., 2], torch.zeros_like(grad[..., 2]))
    assert grad[..., :2].abs().sum() > 0
    grad.pow(2).sum().backward()  # a loss on the normal trains the features
    assert plane.features.grad is not None and plane.features.grad.abs().sum() > 0


def test_rdf_with_a_detail_plane_starts_at_zero_trains_and_rebuilds_from_its_config():
    net = make_net(seed=5)
    assert net.detail_plane is None and net.detail_plane_parameters() == []
    x = points(1, 40)
    z_id, z_exp, z_det = codes(net.cfg, 1)
    coarse = net.coarse(x, z_id, z_exp)["sdf"]
    net.reset_detail_field(plane_channels=4)
    assert net.cfg.det_plane_channels == 4 and net.detail_field.out_dim == 5
    assert net.detail_plane_parameters() == [net.detail_plane.features]
    assert {id(p) for p in net.parameters()} == {id(p) for p in net.coarse_parameters() + net.detail_parameters()}
    out = net.fine(x, z_id, z_exp, z_det)
    assert torch.equal(out["displacement"], torch.zeros_like(out["displacement"]))
    torch.testing.assert_close(out["sdf"], coarse)
    assert torch.equal(net.detail_plane.features, torch.zeros_like(net.detail_plane.features))
    # the plane starts at zero, its coefficients do not: the fine SDF's gradient reaches the plane at once
    net.fine(x, z_id, z_exp, z_det)["sdf"].abs().mean().backward()
    assert net.detail_plane.features.grad.abs().sum() > 0
    with torch.no_grad():
        net.detail_plane.features.normal_(0.0, 0.1)
    moved = net.fine(x, z_id, z_exp, z_det)["displacement"]
    assert moved.abs().max() > 0
    clone = ImFaceNet(ModelConfig.from_dict(net.cfg.to_dict()), net.template_landmarks5, net.template_landmarks68)
    clone.load_state_dict(net.state_dict())
    torch.testing.assert_close(clone.fine(x, z_id, z_exp, z_det)["sdf"], net.fine(x, z_id, z_exp, z_det)["sdf"])


def test_a_detail_basis_keeps_the_field_at_zero_and_trains_the_coefficients():
    net = make_net(seed=3)
    net.reset_detail_field(plane_channels=3)
    x = points(1, 40)
    z_id, z_exp, z_det = codes(net.cfg, 1)
    coarse = net.coarse(x, z_id, z_exp)["sdf"]
    basis = torch.randn(net.detail_plane.features.shape)
    net.set_detail_basis(basis)
    assert torch.equal(net.detail_plane.features.detach(), basis)
    out = net.fine(x, z_id, z_exp, z_det)
    torch.testing.assert_close(out["sdf"], coarse)
    out["sdf"].abs().mean().backward()
    assert net.detail_field.minis.out_weight.grad[:, :, 1:].abs().sum() > 0  # the coefficients learn first
    with pytest.raises(ValueError, match="does not fit"):
        net.set_detail_basis(torch.zeros(2, 2, 3))


def test_a_code_mixed_plane_weighs_its_channels_by_the_code_alone():
    net = make_net(seed=4)
    x = points(2, 40)
    z_id, z_exp, z_det = codes(net.cfg, 2)
    coarse = net.coarse(x, z_id, z_exp)["sdf"]
    net.reset_detail_field(plane_channels=3, plane_mixing="code")
    plane = net.detail_plane
    assert net.cfg.det_plane_mixing == "code" and net.detail_field.out_dim == 1
    assert plane.mix.weight.shape == (3, net.cfg.det_dim)
    assert {id(p) for p in net.detail_plane_parameters()} == {id(plane.features), id(plane.mix.weight)}
    torch.testing.assert_close(net.fine(x, z_id, z_exp, z_det)["sdf"], coarse)  # zero features: no detail yet
    net.fine(x, z_id, z_exp, z_det)["sdf"].abs().mean().backward()
    assert plane.features.grad.abs().sum() > 0
    basis, mix = torch.randn(plane.features.shape), torch.randn(3, net.cfg.det_dim)
    net.set_detail_basis(basis, mix)
    x_t = torch.rand(2, 30, 3) * 0.4 - 0.2
    weights = (z_det * net.cfg.code_scale) @ mix.T  # (2, 3): one set of weights per scan
    a_0 = net.detail_field(x_t, net._template_anchors(2), z_det * net.cfg.code_scale)[..., 0]
    expected = a_0 + (plane(x_t) * weights.unsqueeze(1)).sum(-1)
    torch.testing.assert_close(net.detail_offset(x_t, z_det), expected)
    with pytest.raises(ValueError, match="mix"):
        net.set_detail_basis(basis)  # a code-mixed plane needs its mix
    clone = ImFaceNet(ModelConfig.from_dict(net.cfg.to_dict()), net.template_landmarks5, net.template_landmarks68)
    clone.load_state_dict(net.state_dict())
    torch.testing.assert_close(clone.detail_offset(x_t, z_det), net.detail_offset(x_t, z_det))


def test_detail_plane_config_is_validated():
    with pytest.raises(ValueError, match="det_plane_mixing"):
        tiny_config(det_plane_mixing="sum")
    with pytest.raises(ValueError, match="det_plane_channels"):
        tiny_config(det_plane_channels=-1)
    with pytest.raises(ValueError, match="det_plane_texel"):
        tiny_config(det_plane_texel=0.0)
