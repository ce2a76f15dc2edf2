"""Minibatch standard deviation layer (Karras et al. 2018, Sec. 3; TF release ``minibatch_stddev_layer``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def minibatch_stddev(x: Tensor, group_size: int, num_features: int = 1, eps: float = 1e-8) -> Tensor:
    """Append ``num_features`` maps holding the mean standard deviation of a group of samples.

    As the TF release, a group is ``min(group_size, N)`` samples; unlike its strided assignment
    (``i % (N // G)``), sample ``i`` belongs to group ``i // G``: consecutive samples. Minibatch order
    is random, so the statistic is the same, but contiguous groups stay whole when a batch is split
    into micro-batches or over ranks, so accumulation and multi-process training equal one big batch.
    Per group, the population std over its samples (``sqrt(var + eps)``) of every feature and pixel
    is averaged over the channels of each of ``num_features`` channel slices and over all pixels,
    and broadcast to a constant ``[num_features, H, W]`` block for each member. Computed in at
    least float32 (the variance of nearly equal values loses everything in half precision).
    """
    n, c, h, w = x.shape
    g = min(group_size, n)
    if n % g != 0:
        raise ValueError(f"minibatch size {n} must be divisible by the minibatch-stddev group size {g}")
    if c % num_features != 0:
        raise ValueError(f"{c} channels cannot be split into {num_features} minibatch-stddev features")
    y = x.to(torch.promote_types(x.dtype, torch.float32))
    y = y.reshape(n // g, g, num_features, c // num_features, h, w)
    y = y - y.mean(dim=1, keepdim=True)                        # spelled out: ~10x faster than Tensor.var here
    y = torch.sqrt(y.square().mean(dim=1) + eps)              # [M, F, C/F, H, W]
    y = y.mean(dim=(2, 3, 4)).to(x.dtype)                     # [M, F]
    y = y.repeat_interleave(g, dim=0)[:, :, None, None].expand(n, num_features, h, w)
    return torch.cat([x, y], dim=1)


class MinibatchStddev(nn.Module):
    """Module form of :func:`minibatch_stddev`; adds ``num_features`` channels."""

    def __init__(self, group_size: int = 4, num_features: int = 1) -> None:
        super().__init__()
        self.group_size = group_size
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return minibatch_stddev(x, self.group_size, self.num_features)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_features={self.num_features}"
