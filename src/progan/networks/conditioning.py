"""How labels and latents reach a generator's blocks (shared by both architectures).

BigGAN's generator conditioning (Brock et al. 2019, Sec. 3 and App. B): a *shared* class embedding,
concatenated with a chunk of z (hierarchical latents), is linearly projected to the gain and bias of
every conditional batch norm. :class:`LatentConditioner` turns ``(z, labels)`` into the input-layer
latent and one conditioning vector per block; :func:`cbn_factory` makes the norms that read them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor, nn

from progan.config import NetworkConfig
from progan.nn.condnorm import CondBatchNorm2d
from progan.nn.pixelnorm import pixel_norm
from progan.nn.spectral import embedding, linear


class LatentConditioner(nn.Module):
    """``(z [N, z_dim], labels) -> (z0, [y_1, ..., y_B])`` for a G with ``num_blocks`` conditioned blocks.

    With hierarchical latents z is split into ``num_blocks + 1`` equal chunks: ``z0`` is the first and
    ``y_i = shared(label) ++ chunk_i``; otherwise ``z0 = z`` and every ``y_i = shared(label)`` (None when
    unconditional). Labels are class indices ``[N]`` or soft rows ``[N, K]`` (mixed in embedding space).
    With ``normalize_latents`` z is pixel-normalised first, as a ProGAN G does.
    """

    def __init__(self, cfg: NetworkConfig, num_blocks: int, num_classes: int) -> None:
        super().__init__()
        self.z_dim = cfg.latent_size
        self.num_blocks = num_blocks
        self.num_classes = num_classes
        self.chunk = cfg.latent_size // (num_blocks + 1) if cfg.hierarchical_z else 0
        # No SN on the shared embedding: it is a lookup table, not a layer whose Lipschitz constant matters
        # (BigGAN); it is also left out of the orthogonal regularisation.
        self.shared = (embedding(num_classes, cfg.shared_dim, sn=False, ortho=cfg.ortho_init)
                       if num_classes else None)
        self.cond_dim = (cfg.shared_dim if num_classes else 0) + self.chunk
        self.input_dim = self.chunk or self.z_dim
        # ProGAN normalises z (whole, before any split); BigGAN takes it as drawn (its presets set this
        # false).
        self.normalize = cfg.normalize_latents

    def embed(self, labels: Tensor | None, n: int) -> Tensor | None:
        if self.shared is None:
            return None
        if labels is None:
            raise ValueError(f"this generator is conditional on {self.num_classes} classes: pass labels")
        if labels.dim() == 1 and labels.shape[0] == n:
            return self.shared(labels.long())
        if labels.shape == (n, self.num_classes):
            return labels.to(self.shared.weight.dtype) @ self.shared.weight
        raise ValueError(f"labels must be class indices [{n}] or rows [{n}, {self.num_classes}], "
                         f"got {list(labels.shape)}")

    def forward(self, z: Tensor, labels: Tensor | None) -> tuple[Tensor, list[Tensor | None]]:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"latents must have shape [N, {self.z_dim}], got {list(z.shape)}")
        if self.normalize:
            z = pixel_norm(z)
        emb = self.embed(labels, z.shape[0])
        if not self.chunk:
            return z, [emb] * self.num_blocks
        zs = z.split(self.chunk, dim=1)
        return zs[0], [c if emb is None else torch.cat([emb.to(c.dtype), c], dim=1) for c in zs[1:]]


def cbn_factory(cfg: NetworkConfig, cond_dim: int) -> Callable[[int], nn.Module]:
    """``which_bn(channels)``: conditional BN reading ``cond_dim``-vectors through (SN'd when G's layers
    are) linears."""
    sn = cfg.spectral_norm in ("g", "both")
    return functools.partial(CondBatchNorm2d, cond_dim=cond_dim,
                             which_linear=functools.partial(linear, sn=sn, ortho=cfg.ortho_init))
