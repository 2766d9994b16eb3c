"""K FiLM-conditioned SIREN mini-nets evaluated together as one batched module.

Every blend field of ImFace++ runs K small SIRENs (one per landmark region) on
the same points. Looping over K in Python, or running K ``nn.Linear`` stacks,
wastes most of a CPU's time on small matmuls and temporaries; here each layer
keeps all K weight matrices in one ``(K, in, out)`` tensor and a forward pass is
one ``torch.baddbmm`` plus one in-place ``sin`` per layer over a
``(B*K, n, width)`` layout.

Conditioning is FiLM as in pi-GAN: a per-region mapping net turns the region's
code slice into a frequency scale ``gamma`` and a phase ``beta`` for every
hidden layer,

    h_l = sin(omega0 * gamma_l * (W_l h_{l-1} + b_l) + beta_l),

with ``gamma = 1 + mapping(code)[..gamma]``, ``beta = mapping(code)[..beta]``.
Because ``gamma`` and ``beta`` are constant over the points of one scan, they
(and the region offset ``x - p_k`` of the first layer) are folded into per
(scan, region) weights once (``fold``), so the per-point work is exactly one
matmul and one ``sin`` per layer.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

__all__ = ["BatchedLinear", "FiLMMapping", "BatchedFiLMSiren", "FoldedSiren"]

_LEAKY_SLOPE = 0.2


class BatchedLinear(nn.Module):
    """K independent linear layers applied at once: ``(B, K, in) -> (B, K, out)``."""

    def __init__(self, num_nets: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_nets, in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(num_nets, out_dim))
        self.reset_parameters()

    def reset_parameters(self, gain: float = math.sqrt(2.0 / (1.0 + _LEAKY_SLOPE**2))) -> None:
        """Kaiming-normal (fan-in) weights for a LeakyReLU net, zero bias."""
        std = gain / math.sqrt(self.weight.shape[1])
        with torch.no_grad():
            self.weight.normal_(0.0, std)
            self.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, K, in) -> (B, K, out)."""
        return torch.einsum("bki,kio->bko", x, self.weight) + self.bias


class FiLMMapping(nn.Module):
    """Per-region mapping net: code slice -> (gamma, beta) for every hidden SIREN layer.

    Three batched linear layers with LeakyReLU; the last layer starts small
    (0.25 x Kaiming, zero bias, as in pi-GAN), so gamma ~ 1 and beta ~ 0 for
    small codes and the conditioned SIRENs start close to plain SIRENs.
    """

    def __init__(self, num_nets: int, code_dim: int, hidden: int, depth: int, width: int) -> None:
        super().__init__()
        self.depth, self.width = depth, width
        self.net = nn.Sequential(
            BatchedLinear(num_nets, code_dim, hidden),
            nn.LeakyReLU(_LEAKY_SLOPE),
            BatchedLinear(num_nets, hidden, hidden),
            nn.LeakyReLU(_LEAKY_SLOPE),
            BatchedLinear(num_nets, hidden, 2 * depth * width),
        )
        with torch.no_grad():
            self.net[-1].weight.mul_(0.25)

    def forward(self, code: Tensor) -> tuple[Tensor, Tensor]:
        """code: (B, K, code_dim) -> gamma, beta: each (B, K, depth, width)."""
        b, k, _ = code.shape
        out = self.net(code).view(b, k, 2, self.depth, self.width)
        return 1.0 + out[:, :, 0], out[:, :, 1]


class FoldedSiren(NamedTuple):
    """Per-(scan, region) weights with FiLM and region offsets folded in; G = B * K groups."""

    weights: list[Tensor]
    """Hidden layer weights, each (G, in, width); already multiplied by omega0 * gamma."""
    biases: list[Tensor]
    """Hidden layer biases, each (G, 1, width); omega0 * gamma * b (- offset term) + beta."""
    out_weight: Tensor
    """Output layer weight (G, width, out)."""
    out_bias: Tensor
    """Output layer bias (G, 1, out)."""
    batch: int
    """B, the number of scans the weights were folded for."""


class BatchedFiLMSiren(nn.Module):
    """K SIREN mini-nets (optionally FiLM-conditioned) evaluated as one batched module.

    Mini-net k computes ``o_k(x) = f_k(x - offsets[:, k]; code[:, k])`` where ``f_k``
    has ``depth`` sine layers of ``width`` units and a linear output layer.

    Args:
        num_nets: K, number of mini-nets.
        in_dim: input size (3 for points).
        out_dim: output size of each mini-net.
        width: hidden width.
        depth: number of hidden sine layers (>= 1).
        omega0: SIREN frequency factor.
        code_dim: size of each mini-net's code slice; 0 for unconditioned SIRENs.
        mapping_width: hidden width of the FiLM mapping nets (ignored if code_dim == 0).
        zero_init_output: zero the output layer (weights and bias) so every mini-net starts at 0.
        first_omega0: frequency factor of the first layer only (default ``omega0``). With inputs in
            normalised units (1 = 100 mm) and ``omega0`` = 30, the first layer's waves are >= ~20 mm long;
            a detail field needs shorter ones (wrinkles are 5-12 mm apart).
    """

    def __init__(
        self,
        num_nets: int,
        in_dim: int,
        out_dim: int,
        width: int,
        depth: int,
        omega0: float = 30.0,
        code_dim: int = 0,
        mapping_width: int = 128,
        zero_init_output: bool = False,
        first_omega0: float | None = None,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.num_nets, self.in_dim, self.out_dim = num_nets, in_dim, out_dim
        self.width, self.depth, self.omega0, self.code_dim = width, depth, float(omega0), code_dim
        self.first_omega0 = float(omega0 if first_omega0 is None else first_omega0)
        dims = [in_dim] + [width] * depth
        self.hidden_weights = nn.ParameterList(
            nn.Parameter(torch.empty(num_nets, dims[i], dims[i + 1])) for i in range(depth)
        )
        self.hidden_biases = nn.ParameterList(
            nn.Parameter(torch.empty(num_nets, width)) for _ in range(depth)
        )
        self.out_weight = nn.Parameter(torch.empty(num_nets, width, out_dim))
        self.out_bias = nn.Parameter(torch.empty(num_nets, out_dim))
        self.mapping = FiLMMapping(num_nets, code_dim, mapping_width, depth, width) if code_dim > 0 else None
        self.reset_parameters(zero_init_output)

    def reset_parameters(self, zero_init_output: bool = False) -> None:
        """SIREN init: first layer U(+-1/in), later layers U(+-sqrt(6/in)/omega0), biases U(+-1/sqrt(in))."""
        with torch.no_grad():
            for i, (w, b) in enumerate(zip(self.hidden_weights, self.hidden_biases)):
                fan_in = w.shape[1]
                bound = 1.0 / fan_in if i == 0 else math.sqrt(6.0 / fan_in) / self.omega0
                w.uniform_(-bound, bound)
                b.uniform_(-1.0 / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in))
            if zero_init_output:
                self.out_weight.zero_()
                self.out_bias.zero_()
            else:
                bound = math.sqrt(6.0 / self.width) / self.omega0
                self.out_weight.uniform_(-bound, bound)
                self.out_bias.uniform_(-1.0 / math.sqrt(self.width), 1.0 / math.sqrt(self.width))

    def fold(self, offsets: Tensor, code: Tensor | None = None) -> FoldedSiren:
        """Fold FiLM and the region offsets into per-(scan, region) weights.

        Args:
            offsets: (B, K, in) point subtracted from the input of mini-net k (its landmark).
            code: (B, K, code_dim) per-region code slices, or None when ``code_dim == 0``.
        Returns:
            FoldedSiren for ``apply_folded``; computed once per scan batch, reused for every point chunk.
        """
        b, k = offsets.shape[0], self.num_nets
        if offsets.shape[1:] != (k, self.in_dim):
            raise ValueError(f"offsets must be (B, {k}, {self.in_dim}), got {tuple(offsets.shape)}")
        if code is None and self.mapping is not None:
            raise ValueError(f"this SIREN is conditioned on a code of size {self.code_dim}, got code=None")
        if code is not None and self.mapping is None:
            raise ValueError("this SIREN takes no code (code_dim=0), got a code")
        g = b * k
        if self.mapping is not None:
            if code.shape != (b, k, self.code_dim):
                expected = (b, k, self.code_dim)
                raise ValueError(f"code must be (B, K, code_dim) = {expected}, got {tuple(code.shape)}")
            gamma, beta = self.mapping(code)
            omega = self.omega0 * gamma  # (B, K, depth, W)
        weights, biases = [], []
        for i, (w, bias) in enumerate(zip(self.hidden_weights, self.hidden_biases)):
            # pre-activation of layer 0 on x - p:  x W + (b - p W)
            bias_i = bias - torch.einsum("bki,kio->bko", offsets, w) if i == 0 else bias.expand(b, k, -1)
            factor = self.first_omega0 if i == 0 else self.omega0
            if self.mapping is None:
                w_i = (factor * w).expand(b, k, -1, -1)
                c_i = factor * bias_i
            else:
                layer_omega = omega[:, :, i] if i else omega[:, :, 0] * (self.first_omega0 / self.omega0)
                w_i = w * layer_omega[:, :, None, :]
                c_i = layer_omega * bias_i + beta[:, :, i]
            weights.append(w_i.reshape(g, w.shape[1], self.width))
            biases.append(c_i.reshape(g, 1, self.width))
        out_w = self.out_weight.expand(b, k, -1, -1).reshape(g, self.width, self.out_dim)
        out_b = self.out_bias.expand(b, k, -1).reshape(g, 1, self.out_dim)
        return FoldedSiren(weights, biases, out_w, out_b, b)

    def apply_folded(self, x: Tensor, folded: FoldedSiren) -> Tensor:
        """Run all mini-nets on shared points.

        Args:
            x: (B, n, in) points (absolute; the offsets were folded in).
            folded: output of ``fold`` for the same B.
        Returns:
            (B, K, n, out) output of every mini-net at every point.
        """
        b, n, _ = x.shape
        k = self.num_nets
        if b != folded.batch:
            raise ValueError(f"x has {b} scans but the weights were folded for {folded.batch}")
        h = x.unsqueeze(1).expand(b, k, n, self.in_dim).reshape(b * k, n, self.in_dim)
        for w, c in zip(folded.weights, folded.biases):
            pre = torch.baddbmm(c, h, w)
            # In-place sin saves a temporary, but autograd needs the pre-activation for sin's backward.
            h = torch.sin(pre) if pre.requires_grad else pre.sin_()
        out = torch.baddbmm(folded.out_bias, h, folded.out_weight)
        return out.view(b, k, n, self.out_dim)

    def forward(self, x: Tensor, offsets: Tensor, code: Tensor | None = None) -> Tensor:
        """x: (B, N, in), offsets: (B, K, in), code: (B, K, code_dim) or None -> (B, K, N, out)."""
        return self.apply_folded(x, self.fold(offsets, code))
