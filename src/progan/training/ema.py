"""Exponential moving average of G's weights (ProGAN's ``Gs``; Karras et al. 2018, Sec. A.1)."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * model for parameters; buffers are copied.

    ``beta = 0`` copies the model (used before BigGAN's EMA start step).
    """
    ema_params: list[torch.Tensor] = list(ema.parameters())
    params = [p.detach() for p in model.parameters()]
    if beta == 0.0:
        torch._foreach_copy_(ema_params, params)
    else:
        torch._foreach_lerp_(ema_params, params, 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)
