"""Pixelwise feature vector normalization (Karras et al. 2018, Sec. 4.2)."""

from __future__ import annotations

import torch
from torch import Tensor

EPSILON = 1e-8


def pixel_norm(x: Tensor, eps: float = EPSILON) -> Tensor:
    """``x / sqrt(mean_over_channels(x^2) + eps)`` over dim 1 (features of a vector or an NCHW map).

    The mean square is reduced in at least float32: ``eps`` = 1e-8 underflows to zero in float16.
    """
    xf = x.to(torch.promote_types(x.dtype, torch.float32))  # no copy for float32 input
    return x * torch.rsqrt(xf.square().mean(dim=1, keepdim=True) + eps).to(x.dtype)
