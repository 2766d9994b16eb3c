"""Neural Blend Field: K landmark-local SIREN mini-nets blended by a fusion net (method.md section 2).

``F(x) = sum_k w_k(x) * f_k(x - p_k; code_k)`` where ``p_k`` is landmark k,
``code_k`` the k-th of K equal slices of the latent code, and ``w(x)`` a softmax
over K produced by a small fusion net on the absolute point ``x``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from imface_core.model.siren import BatchedFiLMSiren

__all__ = ["NeuralBlendField"]

# On a CPU, points are processed in chunks whose (B*K, n, width) activations hold
# about this many floats (4 MB): small enough that temporaries stay in the caches
# and in glibc's heap instead of being mmap'ed per op (2-3x faster on 2 cores).
_CHUNK_ELEMENTS = 1 << 20


class NeuralBlendField(nn.Module):
    """A blend of K FiLM-SIREN mini-nets, one per landmark region.

    Args:
        out_dim: output size (3 for a translation field, 4 for translation + SDF correction, 1 for an SDF).
        code_dim: size D of the latent code, split into K slices of D/K; 0 for an unconditioned field
            (the template field), which is then called with ``code=None``.
        num_regions: K, number of landmarks / mini-nets.
        width: hidden width of each mini-net.
        depth: number of hidden sine layers of each mini-net.
        omega0: SIREN frequency factor.
        fusion_width: hidden width F of the fusion net.
        zero_init_output: zero every mini-net's output layer so the field is exactly 0 at initialisation.
        mapping_width: hidden width of the FiLM mapping nets.
        first_omega0: the mini-nets' first-layer frequency factor (default ``omega0``).
    """

    def __init__(
        self,
        out_dim: int,
        code_dim: int,
        num_regions: int = 5,
        width: int = 64,
        depth: int = 3,
        omega0: float = 30.0,
        fusion_width: int = 64,
        zero_init_output: bool = False,
        mapping_width: int = 128,
        first_omega0: float | None = None,
    ) -> None:
        super().__init__()
        if code_dim % num_regions:
            raise ValueError(f"code_dim={code_dim} must be divisible by num_regions={num_regions}")
        self.out_dim, self.code_dim, self.num_regions = out_dim, code_dim, num_regions
        self.minis = BatchedFiLMSiren(
            num_regions,
            3,
            out_dim,
            width,
            depth,
            omega0=omega0,
            code_dim=code_dim // num_regions,
            mapping_width=mapping_width,
            zero_init_output=zero_init_output,
            first_omega0=first_omega0,
        )
        f = fusion_width
        self.fusion = nn.Sequential(
            nn.Linear(3, f),
            nn.LayerNorm(f),
            nn.LeakyReLU(inplace=True),
            nn.Linear(f, f),
            nn.LayerNorm(f),
            nn.LeakyReLU(inplace=True),
            nn.Linear(f, num_regions),
            nn.LayerNorm(num_regions),
        )

    def blend_weights(self, x: Tensor) -> Tensor:
        """x: (B, N, 3) absolute points -> (B, N, K) blend weights (softmax, sum to 1 over K)."""
        return self.fusion(x).softmax(dim=-1)

    def forward(self, x: Tensor, anchors: Tensor, code: Tensor | None = None) -> Tensor:
        """Evaluate the field.

        Args:
            x: (B, N, 3) points.
            anchors: (B, K, 3) landmarks p_k; mini-net k sees x - anchors[:, k].
            code: (B, D) latent code (mini-net k gets code[:, k*D/K:(k+1)*D/K]), or None if code_dim == 0.
        Returns:
            (B, N, out_dim) blended output.
        """
        if x.dim() != 3 or x.shape[-1] != 3:
            raise ValueError(f"x must be (B, N, 3), got {tuple(x.shape)}")
        b, n, _ = x.shape
        k = self.num_regions
        if anchors.shape != (b, k, 3):
            raise ValueError(f"anchors must be (B, K, 3) = {(b, k, 3)}, got {tuple(anchors.shape)}")
        if code is not None:
            if code.shape != (b, self.code_dim):
                raise ValueError(f"code must be (B, {self.code_dim}), got {tuple(code.shape)}")
            code = code.reshape(b, k, self.code_dim // k)
        folded = self.minis.fold(anchors, code)
        # Chunking only pays on a CPU; an accelerator wants one large kernel per op.
        chunk = max(256, _CHUNK_ELEMENTS // (b * k * self.minis.width)) if x.device.type == "cpu" else n
        outs = []
        for start in range(0, n, chunk):
            xc = x[:, start : start + chunk]
            o = self.minis.apply_folded(xc, folded)  # (B, K, n, out)
            w = self.blend_weights(xc)  # (B, n, K)
            outs.append((o * w.transpose(1, 2).unsqueeze(-1)).sum(dim=1))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)
