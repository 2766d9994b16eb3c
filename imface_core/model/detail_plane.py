"""The refinement field's detail plane: a learned feature image over the template face's front.

A SIREN conditioned on a per-scan code learns grooves a few millimetres wide slowly, and more slowly the
more scans share it (docs/experiments.md, "Field capacity"). The plane gives the field an explicit fine basis:
C feature images over the template's (x, y), one texel per ``texel`` model units, read bilinearly at a
template point. The RDF's blend field then only has to produce C smooth, code-dependent coefficients per
point (``ImFaceNet.detail_offset``), and each texel trains directly on the points that fall near it.
With ``code_dim`` > 0 the plane carries its own coefficients instead: a linear map (``mix``) of the detail
code to C weights that hold over the whole face (``ModelConfig.det_plane_mixing = "code"``).

The bilinear read is written out with gathers (not ``grid_sample``) so that it is differentiable twice:
the fine normal of the training loss is a gradient of the plane's output with respect to the point.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["DetailPlane"]


class DetailPlane(nn.Module):
    """C feature images (``features``: rows x columns x C) over the template's (x, y) in
    [-half_width, half_width] x [-half_height, half_height].

    Args:
        channels: C, number of feature images.
        half_width, half_height: half extents of the covered rectangle (model units, centred on 0). Points
            outside it read the nearest border texel.
        texel: texel size in model units (0.01 = 1 mm).
        init_std: standard deviation of random initial features; 0 (the default): all zero, so the plane adds no
            texel-sized noise; with random coefficients (``ImFaceNet``) the field starts at exactly zero and the
            features still get a gradient from the first step.
        code_dim: with D > 0, ``mix`` (a bias-free D -> C linear map, random at first) turns a code into the C
            per-scan coefficients (``coefficients``); 0: no mix, the caller weighs the channels.

    Training note (measured with ``imface polish`` on 800 scans, 32 channels): with 64 scans x 512 points per
    step, each texel sees about one point per step, Adam turns that noise into texel-sized steps, and the fine
    normal and eikonal terms blew up after ~450 steps (random or zero initial features alike); every scan in
    every step (800 x 128 points) trained stably.
    """

    def __init__(self, channels: int, half_width: float, half_height: float, texel: float,
                 init_std: float = 0.0, code_dim: int = 0) -> None:
        super().__init__()
        if channels < 1 or half_width <= 0 or half_height <= 0 or texel <= 0:
            raise ValueError(f"detail plane: channels, extents and texel must be positive, got {channels}, "
                             f"{half_width}, {half_height}, {texel}")
        self.channels, self.texel = channels, float(texel)
        self.half_width, self.half_height = float(half_width), float(half_height)
        self.columns = int(math.ceil(2 * half_width / texel)) + 1
        self.rows = int(math.ceil(2 * half_height / texel)) + 1
        self.features = nn.Parameter(torch.randn(self.rows, self.columns, channels) * init_std)
        self.mix = nn.Linear(code_dim, channels, bias=False) if code_dim > 0 else None

    def corners(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Flat indices into the rows x columns texels (..., 4) of the four texels around the (x, y) of the template
        points x (..., 3), and their bilinear weights (..., 4), differentiable in x; reading (``forward``) and
        splatting (``imface_core.training.plane_init``) share them."""
        u = ((x[..., 0] + self.half_width) / self.texel).clamp(0.0, self.columns - 1.0001)
        v = ((x[..., 1] + self.half_height) / self.texel).clamp(0.0, self.rows - 1.0001)
        i0, j0 = u.detach().floor().long(), v.detach().floor().long()
        fu, fv = u - i0, v - j0
        corner = i0 + j0 * self.columns
        index = torch.stack([corner, corner + 1, corner + self.columns, corner + self.columns + 1], dim=-1)
        weight = torch.stack([(1.0 - fu) * (1.0 - fv), fu * (1.0 - fv), (1.0 - fu) * fv, fu * fv], dim=-1)
        return index, weight

    def coefficients(self, code: Tensor) -> Tensor:
        """(B, D) codes -> (B, C) channel weights through ``mix`` (a plane made with ``code_dim`` > 0)."""
        if self.mix is None:
            raise ValueError("this detail plane has no code mix (made with code_dim=0)")
        return self.mix(code)

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., 3) template points -> (..., C) bilinearly interpolated features at (x, y)."""
        index, weight = self.corners(x)
        table = self.features.view(-1, self.channels)  # (rows * columns, C)
        out = table[index[..., 0]] * weight[..., 0:1]  # one (..., C) gather per corner: no (..., 4, C) temporary
        for k in range(1, 4):
            out = out + table[index[..., k]] * weight[..., k:k + 1]
        return out
