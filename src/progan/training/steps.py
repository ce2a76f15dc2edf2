"""One D step and one G step, with the TF release's skipping of non-finite updates."""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from progan import losses
from progan.config import LossConfig
from progan.training.stats import Collector


def grads_finite(params: Iterable[nn.Parameter]) -> bool:
    """True when every gradient is finite (one device sync per step)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return True
    norms = torch._foreach_norm(grads)
    return bool(torch.isfinite(torch.stack(norms)).all())


def _apply(opt: torch.optim.Optimizer, module: nn.Module) -> bool:
    if grads_finite(module.parameters()):
        opt.step()
        return True
    opt.zero_grad(set_to_none=True)
    return False


def d_step(
    G: nn.Module,
    D: nn.Module,
    opt_D: torch.optim.Optimizer,
    loss_cfg: LossConfig,
    reals: torch.Tensor,
    labels: torch.Tensor | None,
    z: torch.Tensor,
    stats: Collector,
) -> bool:
    """Update D on one real minibatch and fakes made for the same labels (as the TF release); False if skipped."""
    with torch.no_grad():
        fakes = G(z, labels)
    loss, terms = losses.d_loss(loss_cfg, D, reals, fakes, labels)
    opt_D.zero_grad(set_to_none=True)
    loss.backward()
    for name, value in terms.items():
        stats.report(name, value)
    return _apply(opt_D, D)


def g_step(
    G: nn.Module,
    D: nn.Module,
    opt_G: torch.optim.Optimizer,
    loss_cfg: LossConfig,
    z: torch.Tensor,
    labels: torch.Tensor | None,
    stats: Collector,
) -> bool:
    """Update G through a frozen D (no weight gradients for D are computed); False if skipped."""
    D.requires_grad_(False)
    try:
        fakes = G(z, labels)
        loss, terms = losses.g_loss(loss_cfg, D, fakes, labels)
        opt_G.zero_grad(set_to_none=True)
        loss.backward()
    finally:
        D.requires_grad_(True)
    for name, value in terms.items():
        stats.report(name, value)
    return _apply(opt_G, G)
