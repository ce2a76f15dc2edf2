"""One D step and one G step: micro-batch accumulation, mixed precision, gradient all-reduce,
and the TF release's skipping of non-finite updates.

Every step computes the loss as a mean over the per-rank batch; with ``k`` micro-batches each
micro-loss is weighted by its share, so the accumulated gradient equals the full batch's (the
minibatch-stddev groups are contiguous, so each micro-batch holds whole groups). Averaging
over ranks then gives the gradient of the global batch.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import torch
from torch import nn

from progan import losses
from progan.config import LossConfig
from progan.training.distributed import World, sync_grads
from progan.training.stats import Collector

if TYPE_CHECKING:
    from progan.augment.runtime import StepAugment

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_context(device_type: str, precision: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for bf16/fp16, nothing for fp32."""
    dtype = _DTYPES[precision]
    return contextlib.nullcontext() if dtype is None else torch.autocast(device_type, dtype=dtype)


def grads_finite(params: Iterable[nn.Parameter]) -> bool:
    """True when every gradient is finite (one device sync per step)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return True
    norms = torch._foreach_norm(grads)
    return bool(torch.isfinite(torch.stack(norms)).all())


@dataclass
class StepContext:
    """How steps are computed on this rank: precision, micro-batches, the world to average over."""

    device: torch.device
    precision: str = "fp32"
    micro_batch: int = 0
    world: World = field(default_factory=World)
    scalers: dict[str, torch.amp.GradScaler] = field(default_factory=dict)
    g_regularizer: Callable[[nn.Module], torch.Tensor] | None = None   # e.g. BigGAN's orthogonal regularisation

    def __post_init__(self) -> None:
        if self.precision == "fp16":
            # Dynamic loss scaling: fp16 gradients underflow without it.
            self.scalers = {k: torch.amp.GradScaler(self.device.type) for k in ("G", "D")}

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast_context(self.device.type, self.precision)

    def slices(self, n: int) -> Iterator[slice]:
        step = self.micro_batch if 0 < self.micro_batch < n else n
        for start in range(0, n, step):
            yield slice(start, min(start + step, n))

    def backward(self, loss: torch.Tensor, which: str) -> None:
        scaler = self.scalers.get(which)
        (scaler.scale(loss) if scaler is not None else loss).backward()

    def apply(self, opt: torch.optim.Optimizer, module: nn.Module, which: str) -> bool:
        """Average gradients over ranks, then step unless they are not finite; True if the step was taken."""
        sync_grads(module.parameters(), self.world)
        scaler = self.scalers.get(which)
        if scaler is not None:
            scale = scaler.get_scale()
            scaler.step(opt)  # skips by itself on inf/NaN, and lowers the scale
            scaler.update()
            return scaler.get_scale() >= scale
        if grads_finite(module.parameters()):
            opt.step()
            return True
        return False


def can_fuse_d_calls(D: nn.Module, n: int) -> bool:
    """Whether reals and fakes may go through D in one call without changing any result.

    True when D's only batch coupling is the minibatch-stddev layer and its (contiguous) groups fit
    the batch exactly; D architectures with other batch statistics say so with ``fusable = False``.
    """
    D = getattr(D, "_orig_mod", D)
    if not getattr(D, "fusable", True):
        return False
    cfg = getattr(D, "cfg", None)
    group = getattr(cfg, "mbstd_group_size", 0) if cfg is not None else 0
    return group <= 1 or (n >= group and n % group == 0)


def _part(x: torch.Tensor | None, sl: slice) -> torch.Tensor | None:
    return None if x is None else x[sl]


def d_step(
    G: nn.Module,
    D: nn.Module,
    opt_D: torch.optim.Optimizer,
    loss_cfg: LossConfig,
    reals: torch.Tensor,
    labels: torch.Tensor | None,
    z: torch.Tensor,
    stats: Collector,
    ctx: StepContext,
    mix: torch.Tensor | None = None,
    augment: StepAugment | None = None,
) -> bool:
    """Update D on one real minibatch and fakes made for the same labels (as the TF release); False if skipped.

    ``mix`` are the gradient penalty's interpolation factors, drawn by the caller so that they do not
    depend on how the batch is split over ranks and micro-batches. ``augment`` (ADA / DiffAugment)
    transforms the reals and fakes before D sees them; the penalties are then taken on what D sees.
    """
    n = reals.shape[0]
    opt_D.zero_grad(set_to_none=True)
    for sl in ctx.slices(n):
        lab = _part(labels, sl)
        with ctx.autocast():
            with torch.no_grad():
                fakes = G(z[sl], lab)
            real = reals[sl]
            if augment is not None:
                real, fakes = augment(real, "reals", sl), augment(fakes, "fakes", sl)
            fuse = can_fuse_d_calls(D, sl.stop - sl.start)
            loss, terms = losses.d_loss(loss_cfg, D, real, fakes, lab, mix=_part(mix, sl), fuse=fuse)
        if augment is not None:
            augment.observe(terms, sl.stop - sl.start)
        ctx.backward(loss * ((sl.stop - sl.start) / n), "D")
        for name, value in terms.items():
            stats.report(name, value)
    return ctx.apply(opt_D, D, "D")


def g_step(
    G: nn.Module,
    D: nn.Module,
    opt_G: torch.optim.Optimizer,
    loss_cfg: LossConfig,
    z: torch.Tensor,
    labels: torch.Tensor | None,
    stats: Collector,
    ctx: StepContext,
    augment: StepAugment | None = None,
) -> bool:
    """Update G through a frozen D (no weight gradients for D are computed); False if skipped.

    ``augment`` transforms the fakes before D sees them (differentiably, so G learns through it)."""
    n = z.shape[0]
    opt_G.zero_grad(set_to_none=True)
    D.requires_grad_(False)
    try:
        for sl in ctx.slices(n):
            with ctx.autocast():
                fakes = G(z[sl], _part(labels, sl))
                if augment is not None:
                    fakes = augment(fakes, "fakes", sl)
                loss, terms = losses.g_loss(loss_cfg, D, fakes, _part(labels, sl))
            ctx.backward(loss * ((sl.stop - sl.start) / n), "G")
            for name, value in terms.items():
                stats.report(name, value)
    finally:
        D.requires_grad_(True)
    if ctx.g_regularizer is not None:
        reg = ctx.g_regularizer(G)
        ctx.backward(reg, "G")
        stats.report("loss/G_reg", reg)
    return ctx.apply(opt_G, G, "G")
