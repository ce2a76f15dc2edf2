"""BigGAN-PyTorch's standing statistics: batch-norm statistics recomputed for a generator's own weights."""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from progan.latents import truncated_normal


@torch.no_grad()
def accumulate_standing_stats(
    G: nn.Module,
    *,
    num_batches: int = 16,
    batch_size: int = 64,
    seed: int = 0,
    truncation: float | None = None,
) -> None:
    """Replace G's BN running statistics by their average over ``num_batches`` fresh batches.

    BigGAN-PyTorch's "standing statistics": an EMA generator's weights are an average, but the running
    statistics it copies from G follow G, so recomputing them for the averaged weights (and, when
    given, the truncation used for sampling) makes eval-mode samples match the weights. G's mode is kept.
    """
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    momenta = [m.momentum for m in bns]
    was_training = G.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the plain mean over the batches
    G.train()
    try:
        for _ in range(num_batches):
            shape = (batch_size, cast(int, G.z_dim))
            z = torch.randn(shape, generator=gen) if truncation is None else \
                truncated_normal(shape, truncation, generator=gen)
            k = int(getattr(G, "num_classes", 0) or 0)
            labels = torch.randint(k, (batch_size,), generator=gen).to(device) if k else None
            G(z.to(device), labels)
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        G.train(was_training)
