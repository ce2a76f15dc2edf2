"""Self-attention block of SAGAN (Zhang et al. 2019) in BigGAN's form (Brock et al. 2019, App. B).

Queries take C/8 channels, keys C/8 and values C/2, keys and values 2x2 max-pooled (a quarter of the
positions), and the attended values are projected back to C channels and added with a learned gain
``gamma`` that starts at 0, so a fresh block is the identity and attention is phased in by training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from progan.nn.spectral import SN_CONV, ConvFactory


class SelfAttention(nn.Module):
    """``x + gamma * o(softmax(theta(x)^T phi(x)) g(x))`` over the H*W positions of an NCHW map."""

    def __init__(self, channels: int, which_conv: ConvFactory = SN_CONV) -> None:
        super().__init__()
        if channels < 8 or channels % 8:
            raise ValueError(f"self-attention needs a multiple of 8 channels, got {channels}")
        self.channels = channels
        self.theta = which_conv(channels, channels // 8, 1, bias=False)
        self.phi = which_conv(channels, channels // 8, 1, bias=False)
        self.g = which_conv(channels, channels // 2, 1, bias=False)
        self.o = which_conv(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        if c != self.channels:
            raise ValueError(f"self-attention expects {self.channels} channels, got {c}")
        pool = h >= 2 and w >= 2 and h % 2 == 0 and w % 2 == 0
        theta = self.theta(x).flatten(2)                                   # [N, C/8, HW]
        phi = self.phi(x)
        g = self.g(x)
        if pool:
            phi, g = F.max_pool2d(phi, 2), F.max_pool2d(g, 2)
        beta = torch.softmax(theta.transpose(1, 2) @ phi.flatten(2), dim=-1)  # [N, HW, HW/4]
        o = (g.flatten(2) @ beta.transpose(1, 2)).view(n, c // 2, h, w)
        return x + self.gamma * self.o(o)


class WithAttention(nn.Module):
    """A block with a SAGAN self-attention layer after it (G) or before it (D), at the block's resolution."""

    def __init__(self, block: nn.Module, channels: int, which_conv: ConvFactory, *, before: bool) -> None:
        super().__init__()
        self.block = block
        self.before = before
        self.attention = SelfAttention(channels, which_conv)

    def forward(self, x: Tensor, *args: Tensor | None) -> Tensor:
        if self.before:
            return self.block(self.attention(x), *args)
        return self.attention(self.block(x, *args))
