"""Cross-replica batch normalisation: train-mode statistics over the batch of every process.

BigGAN (Brock et al. 2019) trains with cross-replica BN so that G's batch statistics are those of the
whole batch, not of one device's share; BigGAN-PyTorch does it with a synchronised BN. The reduction is
``torch.nn.SyncBatchNorm``'s (sums of x, then of the centred squares, over all ranks; in the backward,
sums of dy and dy * x_hat), written with plain all-reduces because SyncBatchNorm runs on GPUs only and
gloo on CPU must give the same result. The forward is two-pass (mean first, then centred squares), so
the statistics keep single-process precision.

With every rank calling on its share of a global batch, the forward equals a single-process BN over the
global batch and each rank's backward gives ``world_size`` times that batch's input gradient for its
samples, which the gradient average over ranks turns into the single-process gradient.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

_DIMS = (0, 2, 3)


def _bcast(v: Tensor) -> Tensor:
    return v[None, :, None, None]


class _CrossReplicaNorm(torch.autograd.Function):
    """``x_hat = (x - mean) / sqrt(var + eps)`` in float32, with mean and (biased) var over every rank's
    batch."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, eps: float, group: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        x32 = x.float()
        local = torch.cat([x32.sum(_DIMS), x32.new_tensor([x32.numel() // x32.shape[1]])])
        dist.all_reduce(local, group=group)
        count = local[-1]
        mean = local[:-1] / count
        centred = x32 - _bcast(mean)
        squares = centred.square().sum(_DIMS)
        dist.all_reduce(squares, group=group)
        var = squares / count
        invstd = torch.rsqrt(var + eps)
        x_hat = centred * _bcast(invstd)
        ctx.save_for_backward(x_hat, invstd, count)
        ctx.group, ctx.dtype = group, x.dtype
        ctx.mark_non_differentiable(mean, var, count)
        return x_hat, mean, var, count

    @staticmethod
    def backward(ctx: Any, dy: Tensor, *unused: Any) -> tuple[Tensor, None, None]:
        x_hat, invstd, count = ctx.saved_tensors
        dy32 = dy.float()
        sums = torch.cat([dy32.sum(_DIMS), (dy32 * x_hat).sum(_DIMS)])
        dist.all_reduce(sums, group=ctx.group)
        mean_dy, mean_dy_xhat = (sums / count).chunk(2)
        dx = (dy32 - _bcast(mean_dy) - x_hat * _bcast(mean_dy_xhat)) * _bcast(invstd)
        return dx.to(ctx.dtype), None, None


class CrossReplicaBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose train-mode statistics (and running statistics) span every process's batch
    once :func:`set_cross_replica` switched it on; otherwise, and in one process or eval mode, it is
    ``nn.BatchNorm2d`` itself. Same parameters and buffers, so checkpoints are unchanged.

    While on, every rank must call it in train mode at the same points (as the training steps do): a
    train-mode call on one rank alone waits for the others.
    """

    cross_replica: bool = False

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.cross_replica and dist.is_available() and dist.is_initialized() \
                and dist.get_world_size() > 1:
            return self._forward_cross_replica(x)
        return super().forward(x)

    @torch.compiler.disable  # collectives inside: let a compiled network break the graph here
    def _forward_cross_replica(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise ValueError(f"expected an NCHW input, got shape {list(x.shape)}")
        x_hat, mean, var, count = _CrossReplicaNorm.apply(x, self.eps, None)
        if self.track_running_stats and self.num_batches_tracked is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                assert self.running_mean is not None and self.running_var is not None
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
                unbiased = var * (count / (count - 1).clamp(min=1))  # as nn.BatchNorm2d's running variance
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        if self.affine:
            x_hat = x_hat * _bcast(self.weight) + _bcast(self.bias)
        return x_hat.to(x.dtype)  # normalised (and scaled) in float32, as torch's batch norm under autocast


def set_cross_replica(module: nn.Module, enabled: bool = True) -> int:
    """Switch cross-replica statistics on (or off) for every :class:`CrossReplicaBatchNorm2d` in ``module``;
    returns how many there are."""
    norms = [m for m in module.modules() if isinstance(m, CrossReplicaBatchNorm2d)]
    for m in norms:
        m.cross_replica = enabled
    return len(norms)
