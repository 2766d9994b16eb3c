"""Start the refinement field's detail plane from the training scans' fine residuals.

A plane that starts at zero learns the largest residuals first: the coarse model's eyelid rims and
speckle, with no forehead lines after an hour of ``imface polish`` on a 2-core CPU (model card). The fine
patterns are already in the data, in template space: at a scan's surface points the coarse SDF is minus the
distance the refinement field has to move the surface, and the coarse model gives each point its template
position x_t. So, per training scan, the residual -s / detail_max (the RDF's output r for a small move) is
splatted onto the plane's texel grid at x_t (``residual_maps``); the smooth band is removed (a Gaussian
average, which the blend field's own coefficient a_0 learns easily) and the maps are lightly smoothed
(``fine_basis``). The leading right singular vectors of the scans x texels matrix are the fine patterns
that recur across scans (eyelid rims, frown lines between the brows, forehead lines, lip lines); they become
the plane's C channels, scaled to unit RMS over the face. The blend field then starts with zero coefficients
(``ImFaceNet.set_detail_basis``), so the fine SDF still starts equal to the coarse one, and training only has
to learn which patterns each scan has and how strongly. With code mixing (``ModelConfig.det_plane_mixing``)
there is nothing to learn at first: each scan's projection onto the channels (``FineBasis.coefficients``)
becomes its detail code through the plane's linear mix (``code_mix``), so every training scan starts with its
own wrinkles, as far as C channels and the code size can hold them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from imface_core.model.detail_plane import DetailPlane
from imface_core.model.imface_net import ImFaceNet
from imface_core.training.losses import LatentCodes

__all__ = ["FineBasis", "ResidualMaps", "code_mix", "fine_basis", "residual_maps"]


@dataclass
class ResidualMaps:
    """Per-scan residual images on a detail plane's grid, as splatting sums (S x rows*cols each)."""

    weighted: Tensor  # sum of bilinear weight * residual (r units) per texel
    weight: Tensor  # sum of bilinear weights per texel
    rows: int
    columns: int


def _splat(plane: DetailPlane, x_t: Tensor, values: Tensor, weighted: Tensor, weight: Tensor) -> None:
    """Add ``values`` (n,) at template points ``x_t`` (n, 3) bilinearly into one scan's flat texel sums."""
    index, corner_weight = plane.corners(x_t)
    weighted.index_add_(0, index.reshape(-1), (corner_weight * values.unsqueeze(-1)).reshape(-1))
    weight.index_add_(0, index.reshape(-1), corner_weight.reshape(-1))


def residual_maps(net: ImFaceNet, codes: LatentCodes, data, points_per_scan: int = 40000, seed: int = 0,
                  chunk_points: int = 50000, progress: Callable[[int], None] | None = None) -> ResidualMaps:
    """Splat -coarse SDF / detail_max at ``points_per_scan`` different surface points of every scan of ``data``
    (a ``FaceScanDataset`` the codes were trained on; all the points a scan holds if it holds fewer) onto
    ``net``'s detail plane grid at their template points.

    About 2.5 minutes for 800 scans x 40,000 points and 7.7 for 100,000 on a 2-core CPU (one coarse pass, no
    gradients). More
    points make cleaner maps: 40,000 points over a face put about one point on each 1 mm texel, and the
    maps then need smoothing (``fine_basis``'s ``smooth_texels``) that also flattens the 2 mm grooves."""
    plane = net.detail_plane
    if plane is None:
        raise ValueError("residual maps need a model with a detail plane (det_plane_channels > 0)")
    device = next(net.parameters()).device
    scans, texels = len(data), plane.rows * plane.columns
    weighted, weight = torch.zeros(scans, texels), torch.zeros(scans, texels)
    identity = torch.as_tensor(np.asarray(data.identity_index, dtype=np.int64))
    rng = np.random.default_rng(seed)
    for scan in range(scans):
        surface = torch.from_numpy(data.distinct_surface_points(scan, points_per_scan, rng)).to(device)
        for start in range(0, len(surface), chunk_points):
            chunk = surface[start:start + chunk_points].unsqueeze(0)
            with torch.no_grad():
                out = net.coarse(chunk, codes.id.weight[identity[scan:scan + 1].to(device)],
                                 codes.exp.weight[scan:scan + 1])
            _splat(plane, out["x_t"][0].cpu(), (-out["sdf"][0] / net.cfg.detail_max).cpu(), weighted[scan],
                   weight[scan])
        if progress is not None:
            progress(1)
    return ResidualMaps(weighted, weight, plane.rows, plane.columns)


def _blur(maps: Tensor, rows: int, columns: int, sigma: float) -> Tensor:
    """Separable Gaussian blur (``sigma`` in texels) of flat images (S, rows*columns)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    kernel = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=maps.dtype) / sigma) ** 2)
    kernel = kernel / kernel.sum()
    images = maps.view(-1, 1, rows, columns)
    images = F.conv2d(images, kernel.view(1, 1, 1, -1), padding=(0, radius))
    images = F.conv2d(images, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    return images.view(maps.shape)


def band_windows(rows: int, first: int, last: int, bands: int) -> Tensor:
    """(bands, rows) smooth weights over texel rows that sum to 1: cos^2 bumps centred evenly from row ``first`` to
    row ``last`` (the face's extent), each reaching its neighbours' centres; the end ones stay 1 beyond them."""
    y = torch.arange(rows, dtype=torch.float32)
    if bands == 1:
        return torch.ones(1, rows)
    centres = torch.linspace(float(first), float(last), bands)
    spacing = float(centres[1] - centres[0])
    t = ((y.unsqueeze(0) - centres.unsqueeze(1)) / spacing).clamp(-1.0, 1.0)
    windows = torch.where(t.abs() < 1.0, torch.cos(0.5 * torch.pi * t) ** 2, 0.0)
    windows[0, y < centres[0]] = 1.0
    windows[-1, y > centres[-1]] = 1.0
    return windows


@dataclass
class FineBasis:
    """The plane's starting features and what they hold of the scans' fine residual maps."""

    features: Tensor  # (rows, columns, C), each channel at unit RMS over its covered texels
    energy: float  # share of the fine maps' energy the C channels span
    coefficients: Tensor  # (S, C): scan s's fine map ~ sum_c coefficients[s, c] * features[..., c]


def fine_basis(maps: ResidualMaps, channels: int, bands: int = 1, highpass_texels: float = 4.0,
               smooth_texels: float = 0.7, min_coverage: float = 0.25) -> FineBasis:
    """The plane's initial features, the share of the fine maps' energy they span and each scan's weights.

    Each scan's map loses its smooth band (a normalised Gaussian average over ``highpass_texels``) and is
    smoothed over ``smooth_texels`` (the splat is ~2 points per texel); texels that fewer than ``min_coverage``
    points per scan reach on average (outside the face) stay zero. With ``bands`` = B > 1 the face is cut into B
    horizontal bands with smooth, overlapping windows (``band_windows``; forehead, eyes, nose, mouth, chin for
    B = 4-5), and each band gets C / B channels from an SVD of the maps seen through its window, so that a
    region whose patterns are weaker than the eyelid rims' (the forehead lines of the few scans that raise the
    brows) still gets channels of its own. Channel c is a right singular vector, scaled to unit RMS over the
    covered texels of its band; a scan's weight on it is its map's projection (left singular vector x singular
    value / sqrt(covered texels))."""
    weighted, weight, rows, columns = maps.weighted, maps.weight, maps.rows, maps.columns
    scans = weighted.shape[0]
    if channels > scans:
        raise ValueError(f"a {channels}-channel basis needs at least as many scans; the data has {scans}")
    if not 1 <= bands <= channels:
        raise ValueError(f"bands must be from 1 to the channel count {channels}, got {bands}")
    smooth = _blur(weighted, rows, columns, highpass_texels) / (_blur(weight, rows, columns, highpass_texels) + 1e-3)
    fine = _blur(weighted - weight * smooth, rows, columns, smooth_texels) / (
        _blur(weight, rows, columns, smooth_texels) + 0.05)
    covered = weight.sum(0) > min_coverage * scans
    if int(covered.sum()) < channels:
        raise ValueError(f"the scans reach only {int(covered.sum())} texels of the detail plane; is the plane over "
                         "the face?")
    covered_rows = torch.nonzero(covered.view(rows, columns).any(1)).squeeze(1)
    windows = band_windows(rows, int(covered_rows.min()), int(covered_rows.max()), bands)
    features = torch.zeros(rows * columns, channels)
    coefficients = torch.zeros(scans, channels)
    kept, total, first = 0.0, 0.0, 0
    for band, window in enumerate(windows):
        count = channels // bands + (1 if band < channels % bands else 0)
        per_texel = window.unsqueeze(1).expand(rows, columns).reshape(-1)
        texels = covered & (per_texel > 0)
        seen = fine[:, texels] * per_texel[texels]
        scan_vectors, singular, basis = torch.linalg.svd(seen, full_matrices=False)
        kept += float((singular[:count] ** 2).sum())
        total += float((singular**2).sum())
        root = math.sqrt(int(texels.sum()))
        features[texels, first:first + count] = basis[:count].T * root
        coefficients[:, first:first + count] = scan_vectors[:, :count] * singular[:count] / root
        first += count
    return FineBasis(features.view(rows, columns, channels), kept / max(total, 1e-30), coefficients)


def code_mix(coefficients: Tensor, code_dim: int, code_scale: float, code_rms: float) -> tuple[Tensor, Tensor]:
    """Detail codes (S, code_dim) and a mix (C, code_dim) whose product reproduces per-scan channel weights
    (S, C) as well as a rank-``code_dim`` map can: the leading singular vectors of the weights, the codes
    scaled to RMS ``code_rms`` (the codes' usual spread) and seen by the network x ``code_scale``."""
    scans_vectors, singular, channel_vectors = torch.linalg.svd(coefficients, full_matrices=False)
    rank = min(code_dim, singular.shape[0])
    inputs = scans_vectors[:, :rank] * singular[:rank]  # (S, rank): what mix must see
    spread = float(inputs.pow(2).mean().sqrt().clamp(min=1e-12)) * math.sqrt(rank / code_dim)
    codes = torch.zeros(coefficients.shape[0], code_dim)
    mix = torch.zeros(coefficients.shape[1], code_dim)
    codes[:, :rank] = inputs / spread * code_rms
    mix[:, :rank] = channel_vectors[:rank].T * spread / (code_rms * code_scale)
    return codes, mix
