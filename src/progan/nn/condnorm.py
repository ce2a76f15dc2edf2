"""Conditional batch normalisation (de Vries et al. 2017; Dumoulin et al. 2017) as BigGAN's G uses it.

Features are batch-normalised without an affine transform, then scaled by ``1 + gain(y)`` and shifted
by ``bias(y)``, where ``y`` is the block's conditioning vector: the shared class embedding
concatenated with the block's chunk of the hierarchical latent (Brock et al. 2019, Sec. 3 and
App. B). Train mode normalises with the batch statistics and updates the running ones; eval mode
uses the running statistics (G_ema in eval mode takes them from G, which the EMA copies).
"""

from __future__ import annotations

from torch import Tensor, nn

from progan.nn.crossreplica import CrossReplicaBatchNorm2d
from progan.nn.spectral import SN_LINEAR, LinearFactory


class CondBatchNorm2d(nn.Module):
    """``bn(x) * (1 + gain(y)) + bias(y)``; with ``cond_dim == 0``, a plain affine batch norm."""

    def __init__(
        self,
        num_features: int,
        cond_dim: int,
        which_linear: LinearFactory = SN_LINEAR,
        *,
        eps: float = 1e-5,
        momentum: float = 0.1,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.cond_dim = cond_dim
        # Cross-replica when the trainer switches it on (several processes); nn.BatchNorm2d otherwise.
        self.bn = CrossReplicaBatchNorm2d(num_features, eps=eps, momentum=momentum, affine=cond_dim == 0)
        if cond_dim > 0:
            self.gain = which_linear(cond_dim, num_features, bias=False)
            self.bias = which_linear(cond_dim, num_features, bias=False)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        out = self.bn(x)
        if self.cond_dim == 0:
            return out
        if y is None or y.dim() != 2 or y.shape != (x.shape[0], self.cond_dim):
            raise ValueError(f"conditional batch norm needs y of shape [{x.shape[0]}, {self.cond_dim}], "
                             f"got {None if y is None else list(y.shape)}")
        gain = 1.0 + self.gain(y).to(out.dtype)
        bias = self.bias(y).to(out.dtype)
        return out * gain[:, :, None, None] + bias[:, :, None, None]

    def extra_repr(self) -> str:
        return f"{self.num_features}, cond_dim={self.cond_dim}"
