"""One D step and one G step: micro-batch accumulation, mixed precision, gradient all-reduce,
and the TF release's skipping of non-finite updates.

Every step computes the loss as a mean over the per-rank batch; with ``k`` micro-batches each
micro-loss is weighted by its share, so the accumulated gradient equals the full batch's (the
minibatch-stddev groups are contiguous, so each micro-batch holds whole groups). Averaging
over ranks then gives the gradient of the global batch. Spectral norms advance one power iteration
per step of the network that owns them, however many calls the step makes (see
:mod:`progan.nn.spectral`); what else couples samples is declared by the networks
(:mod:`progan.networks.coupling`).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import torch
from torch import nn

from progan import losses
from progan.config import LossConfig
from progan.device import DTYPES
from progan.networks.coupling import coupling_of
from progan.nn.spectral import held_power_iteration, power_iteration_
from progan.training.compiling import eager
from progan.training.distributed import World, sync_grads
from progan.training.stats import Collector

if TYPE_CHECKING:
    from progan.augment.runtime import StepAugment

def autocast_context(device_type: str, precision: str) -> contextlib.AbstractContextManager[None]:
    """``torch.autocast`` for bf16/fp16, nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type, dtype=DTYPES[precision])


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
    g_regularizer: Callable[[nn.Module], torch.Tensor] | None = None   # e.g. BigGAN's ortho regularisation
    full_resolution: int = 0       # the network's final resolution (0: GP / R1 at the working resolution)

    def __post_init__(self) -> None:
        if self.precision == "fp16":
            # Dynamic loss scaling: fp16 gradients underflow without it.
            self.scalers = {k: torch.amp.GradScaler(self.device.type) for k in ("G", "D")}

    def autocast(self) -> contextlib.AbstractContextManager[None]:
        return autocast_context(self.device.type, self.precision)

    def gradient_upscale(self, loss_cfg: LossConfig, working_resolution: int) -> int:
        """``2**floor(lod)`` when the penalties follow the authors' full-resolution images, else 1."""
        if not self.full_resolution:
            return 1
        return losses.gradient_upscale(self.full_resolution, working_resolution, loss_cfg.gp_scale)

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

    From D's declared :class:`~progan.networks.coupling.BatchCoupling`: no batch norm (its statistics
    would mix reals and fakes), and minibatch-stddev groups that fit the ``n`` samples of each half
    exactly. Spectral norm does not prevent it: its estimate is held for the whole step.
    """
    coupling = coupling_of(D)
    return not coupling.batch_norm and coupling.mbstd_fits(n)


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
    """Update D on one real minibatch and fakes made for the same labels (as the TF release); False if
    skipped.

    ``mix`` are the gradient penalty's interpolation factors, drawn by the caller so that they do not
    depend on how the batch is split over ranks and micro-batches. ``augment`` (ADA / DiffAugment)
    transforms the reals and fakes before D sees them; the penalties are then taken on what D sees.
    """
    n = reals.shape[0]
    upscale = ctx.gradient_upscale(loss_cfg, reals.shape[-1])
    opt_D.zero_grad(set_to_none=True)
    power_iteration_(D)
    with held_power_iteration(G, D):
        for sl in ctx.slices(n):
            lab = _part(labels, sl)
            with ctx.autocast():
                with torch.no_grad():
                    fakes = G(z[sl], lab)
                real = reals[sl]
                if augment is not None:
                    real, fakes = augment(real, "reals", sl), augment(fakes, "fakes", sl)
                fuse = can_fuse_d_calls(D, sl.stop - sl.start)
                loss, terms = losses.d_loss(loss_cfg, D, real, fakes, lab, mix=_part(mix, sl), fuse=fuse,
                                            upscale=upscale, penalty_D=eager(D))
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
    power_iteration_(G)
    D.requires_grad_(False)
    try:
        with held_power_iteration(G, D):
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
    _regularize_g(G, stats, ctx)
    return ctx.apply(opt_G, G, "G")


def _regularize_g(G: nn.Module, stats: Collector, ctx: StepContext) -> None:
    if ctx.g_regularizer is not None:
        reg = ctx.g_regularizer(G)
        ctx.backward(reg, "G")
        stats.report("loss/G_reg", reg)


def joint_step(
    G: nn.Module,
    D: nn.Module,
    opt_G: torch.optim.Optimizer,
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
    """G and D updated at once from one set of fakes, each gradient taken at the other's weights before the
    update: the Theano release's ``separate_funcs=False`` (one Theano function with G and D updates, which
    its CIFAR-10 run used). False if either update was skipped. ``augment`` as in :func:`d_step`: D and
    G see the same augmented fakes.
    """
    n = reals.shape[0]
    upscale = ctx.gradient_upscale(loss_cfg, reals.shape[-1])
    opt_D.zero_grad(set_to_none=True)
    opt_G.zero_grad(set_to_none=True)
    power_iteration_(D)  # one step of each network: one power iteration each
    power_iteration_(G)
    with held_power_iteration(G, D):
        for sl in ctx.slices(n):
            lab = _part(labels, sl)
            share = (sl.stop - sl.start) / n
            with ctx.autocast():
                fakes = G(z[sl], lab)
                real = reals[sl]
                if augment is not None:
                    real, fakes = augment(real, "reals", sl), augment(fakes, "fakes", sl)
                # d_loss detaches the fakes, so this backward reaches D's weights only.
                loss, terms = losses.d_loss(loss_cfg, D, real, fakes, lab, mix=_part(mix, sl),
                                            fuse=can_fuse_d_calls(D, sl.stop - sl.start), upscale=upscale,
                                            penalty_D=eager(D))
            if augment is not None:
                augment.observe(terms, sl.stop - sl.start)
            ctx.backward(loss * share, "D")
            D.requires_grad_(False)
            try:
                with ctx.autocast():
                    g_loss, g_terms = losses.g_loss(loss_cfg, D, fakes, lab)
                ctx.backward(g_loss * share, "G")
            finally:
                D.requires_grad_(True)
            for name, value in (terms | {"loss/G": g_terms["loss/G"]}).items():
                stats.report(name, value)
    _regularize_g(G, stats, ctx)
    ok = ctx.apply(opt_D, D, "D")
    return ctx.apply(opt_G, G, "G") and ok
