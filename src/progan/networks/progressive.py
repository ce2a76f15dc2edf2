"""The progressive generator and discriminator of Karras et al. 2018 (App. A, Table 2; TF release
``G_paper`` / ``D_paper``), with a continuous level of detail ``lod``.

``lod`` as in the TF release: ``log2(resolution) - log2(current level)`` plus the fractional part of
a fade-in. The networks work at ``resolution >> floor(lod)`` and the newest block has weight
``alpha = 1 - (lod - floor(lod))``; an integer ``lod`` is a stable phase. Unlike the TF release,
only the blocks active at the current level are computed (the release runs every block at full
size and masks), so low-resolution phases cost what their resolution costs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from progan.config import NetworkConfig
from progan.networks.conditioning import LatentConditioner, cbn_factory
from progan.networks.coupling import BatchCoupling
from progan.nn import EqualizedConv2d, MinibatchStddev, downsample2d, pixel_norm, upsample2d
from progan.nn.attention import WithAttention
from progan.nn.projection import projection_term
from progan.nn.spectral import (
    ConvFactory,
    LinearFactory,
    conv2d,
    embedding,
    equalized_conv2d,
    equalized_linear,
)

LRELU_SLOPE = 0.2


def lod_level_alpha(resolution_log2: int, lod: float) -> tuple[int, float]:
    """``(log2 of the working resolution, weight of the newest block)`` for a level of detail."""
    max_lod = resolution_log2 - 2
    if not 0.0 <= lod <= max_lod:  # also rejects NaN
        raise ValueError(f"lod must be in [0, {max_lod}] for resolution {2 ** resolution_log2}, got {lod}")
    base = math.floor(lod)
    return resolution_log2 - base, 1.0 - (lod - base)


class _ConvAct(nn.Module):
    """Equalized conv + bias, leaky ReLU 0.2, then pixel norm when ``norm`` (G) — the TF order.

    With ``cbn`` (a ``which_bn(channels)`` factory) a conditional batch norm reading ``y`` takes pixel
    norm's place (BigGAN conditioning of a progressive G). With ``pool_first`` (D's fused downsampling
    conv, TF release ``conv2d_downscale2d`` + ``apply_bias``) the conv output is 2x2-averaged before
    the bias and the activation.
    """

    def __init__(self, cin: int, cout: int, kernel: int, which_conv: ConvFactory, *, norm: bool,
                 cbn: Callable[[int], nn.Module] | None = None, pool_first: bool = False) -> None:
        super().__init__()
        self.conv = which_conv(cin, cout, kernel)
        self.norm = norm
        self.cbn = cbn(cout) if cbn is not None else None
        self.pool_first = pool_first

    def _conv_pool_bias(self, x: Tensor) -> Tensor:
        conv = self.conv
        assert isinstance(conv, EqualizedConv2d)
        x = downsample2d(F.conv2d(x, conv.effective_weight(), None, padding=conv.padding))
        # The bias in the conv output's dtype, as F.conv2d adds it under autocast.
        return x if conv.bias is None else x + conv.bias.to(x.dtype).view(1, -1, 1, 1)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        # In place: the conv's output is not needed for its backward, and leaky ReLU's own
        # backward (and double backward, for the gradient penalty) works from its output.
        x = F.leaky_relu(self._conv_pool_bias(x) if self.pool_first else self.conv(x), LRELU_SLOPE,
                         inplace=True)
        if self.cbn is not None:
            return self.cbn(x, y)
        return pixel_norm(x) if self.norm else x


class _GInput(nn.Module):
    """4x4 block: dense latent -> 4x4 x nf(1) (gain sqrt(2)/4, mimicking a 4x4 transposed conv), 3x3 conv."""

    def __init__(self, in_features: int, channels: int, which_conv: ConvFactory,
                 which_linear: LinearFactory, *, norm: bool,
                 cbn: Callable[[int], nn.Module] | None = None) -> None:
        super().__init__()
        self.channels = channels
        self.dense = which_linear(in_features, channels * 16, gain=math.sqrt(2.0) / 4, bias=False)
        # One per feature map, as TF's apply_bias after the reshape.
        self.bias = nn.Parameter(torch.zeros(channels))
        self.conv = _ConvAct(channels, channels, 3, which_conv, norm=norm, cbn=cbn)
        self.norm = norm
        self.cbn = cbn(channels) if cbn is not None else None

    def forward(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        x = self.dense(z).view(-1, self.channels, 4, 4) + self.bias.view(1, -1, 1, 1)
        x = F.leaky_relu(x, LRELU_SLOPE, inplace=True)
        if self.cbn is not None:
            x = self.cbn(x, y)
        elif self.norm:
            x = pixel_norm(x)
        return self.conv(x, y)


class _GBlock(nn.Module):
    """Nearest 2x up, two 3x3 convs."""

    def __init__(self, cin: int, cout: int, which_conv: ConvFactory, *, norm: bool,
                 cbn: Callable[[int], nn.Module] | None = None) -> None:
        super().__init__()
        self.conv0 = _ConvAct(cin, cout, 3, which_conv, norm=norm, cbn=cbn)
        self.conv1 = _ConvAct(cout, cout, 3, which_conv, norm=norm, cbn=cbn)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return self.conv1(self.conv0(upsample2d(x), y), y)


class _DBlock(nn.Module):
    """Two 3x3 convs and a 2x2 average pool: after the second conv's bias and activation, or, with
    ``fused`` (TF release ``fused_scale=True``), between its conv and its bias (see NetworkConfig)."""

    def __init__(self, cin: int, cout: int, which_conv: ConvFactory, *, fused: bool) -> None:
        super().__init__()
        self.fused = fused
        self.conv0 = _ConvAct(cin, cin, 3, which_conv, norm=False)
        self.conv1 = _ConvAct(cin, cout, 3, which_conv, norm=False, pool_first=fused)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(self.conv0(x))
        return x if self.fused else downsample2d(x)


class _DOutput(nn.Module):
    """4x4 block: minibatch stddev, 3x3 conv, dense to nf(0), dense (gain 1) to 1 score + label logits."""

    def __init__(self, cfg: NetworkConfig, num_outputs: int, which_conv: ConvFactory,
                 which_linear: LinearFactory) -> None:
        super().__init__()
        c1, c0 = cfg.nf(1), cfg.nf(0)
        # As the TF release, a group of one sample has no spread: group sizes 0 and 1 both disable.
        self.mbstd = (MinibatchStddev(cfg.mbstd_group_size, cfg.mbstd_num_features)
                      if cfg.mbstd_group_size > 1 else None)
        extra = cfg.mbstd_num_features if self.mbstd is not None else 0
        self.conv = _ConvAct(c1 + extra, c1, 3, which_conv, norm=False)
        self.dense0 = which_linear(c1 * 16, c0)
        self.dense1 = which_linear(c0, num_outputs, gain=1.0)

    def features(self, x: Tensor) -> Tensor:
        """The ``nf(0)`` features before the last dense layer (what a projection head multiplies)."""
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x).flatten(1)
        return F.leaky_relu(self.dense0(x), LRELU_SLOPE, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.dense1(self.features(x))


class _Progressive(nn.Module):
    """What G and D share: the config, the ``lod`` attribute and its validation."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.resolution = cfg.resolution
        self.resolution_log2 = cfg.resolution_log2
        self.channels = cfg.channels
        self.num_classes = cfg.num_classes if cfg.conditioning != "none" else 0
        self.lod: float = 0.0

    @property
    def max_lod(self) -> float:
        """The lod of the 4x4 level."""
        return float(self.resolution_log2 - 2)

    @property
    def output_resolution(self) -> int:
        """Resolution the network works at for its current ``lod``."""
        return self.resolution >> math.floor(self.lod)

    def _level_alpha(self, lod: float | None) -> tuple[int, float]:
        return lod_level_alpha(self.resolution_log2, self.lod if lod is None else float(lod))

    @staticmethod
    def _factories(cfg: NetworkConfig, sn: bool) -> tuple[ConvFactory, LinearFactory, ConvFactory]:
        """``which_conv`` / ``which_linear`` (equalized-lr layers with BigGAN's SN and orthogonal init as
        options) and the plain ``which_conv`` of self-attention blocks."""
        opts = {"equalized": cfg.equalized_lr, "sn": sn, "ortho": cfg.ortho_init}
        return (functools.partial(equalized_conv2d, **opts), functools.partial(equalized_linear, **opts),
                functools.partial(conv2d, sn=sn, ortho=cfg.ortho_init))


class Generator(_Progressive):
    """ProGAN generator: ``G(z, labels=None, lod=None) -> [N, channels, r, r]``, linear output in [-1, 1].

    Built from a :class:`NetworkConfig` as ``G_paper`` of the TF release: latents (with a one-hot of
    the labels appended under AC-GAN conditioning) pixel-normalized, a 4x4 block, then one block per
    resolution doubling; one 1x1 toRGB (gain 1, no activation) per level. ``labels`` are class indices
    ``[N]`` or one-hot / soft rows ``[N, num_classes]``. ``num_classes`` is 0 when unconditional.
    """

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__(cfg)
        self.z_dim = cfg.latent_size
        pn = cfg.pixelnorm
        which_conv, which_linear, attention_conv = self._factories(cfg, cfg.spectral_norm in ("g", "both"))
        # Conditional BN (BigGAN): labels through a shared embedding (+ z chunks) instead of a one-hot input.
        self.conditioner = (LatentConditioner(cfg, self.resolution_log2 - 1, self.num_classes)
                            if cfg.resolved_g_norm == "cbn" else None)
        cbn = cbn_factory(cfg, self.conditioner.cond_dim) if self.conditioner is not None else None
        in_features = (self.conditioner.input_dim if self.conditioner is not None
                       else self.z_dim + self.num_classes)
        self.blocks = nn.ModuleList([_GInput(in_features, cfg.nf(1), which_conv, which_linear, norm=pn,
                                             cbn=cbn)])
        for res in range(3, self.resolution_log2 + 1):
            block: nn.Module = _GBlock(cfg.nf(res - 2), cfg.nf(res - 1), which_conv, norm=pn, cbn=cbn)
            if 1 << res in cfg.attention:
                block = WithAttention(block, cfg.nf(res - 1), attention_conv, before=False)
            self.blocks.append(block)
        self.to_rgb = nn.ModuleList(which_conv(cfg.nf(res - 1), cfg.channels, 1, gain=1.0)
                                    for res in range(2, self.resolution_log2 + 1))

    @property
    def batch_coupling(self) -> BatchCoupling:
        """Conditional BN (``g_norm=cbn``) and spectral norm couple samples; pixel norm does not."""
        return BatchCoupling(batch_norm=self.conditioner is not None,
                             spectral_norm=self.cfg.spectral_norm in ("g", "both"))

    def _latent_input(self, z: Tensor, labels: Tensor | None) -> Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"latents must have shape [N, {self.z_dim}], got {list(z.shape)}")
        if self.num_classes:
            if labels is None:
                raise ValueError(f"this generator is conditional on {self.num_classes} classes: pass labels")
            if labels.dim() == 1:
                onehot = F.one_hot(labels.long(), self.num_classes).to(z.dtype)
            elif labels.shape == (z.shape[0], self.num_classes):
                onehot = labels.to(z.dtype)
            else:
                raise ValueError(f"labels must be class indices [N] or rows [N, {self.num_classes}], "
                                 f"got {list(labels.shape)}")
            z = torch.cat([z, onehot], dim=1)
        # TF release: the label one-hot is normalized together with the latents.
        return pixel_norm(z) if self.cfg.normalize_latents else z

    def forward(self, z: Tensor, labels: Tensor | None = None, lod: float | None = None) -> Tensor:
        level, alpha = self._level_alpha(lod)
        return self.forward_at(z, labels, level, None if alpha >= 1.0 else alpha)

    def forward_at(self, z: Tensor, labels: Tensor | None, level: int,
                   alpha: Tensor | float | None) -> Tensor:
        """:meth:`forward` at working resolution ``2**level`` with the newest block blended in by ``alpha``
        (None: a stable phase). What ``torch.compile`` sees (:mod:`progan.training.compiling`): a fade
        weight passed as a tensor is an input of the compiled graph, not a constant to recompile for."""
        top = level - 2
        if self.conditioner is not None:
            z_in, ys = self.conditioner(z, labels)
        else:
            z_in, ys = self._latent_input(z, labels), [None] * len(self.blocks)
        x = self.blocks[0](z_in, ys[0])
        for i in range(1, top):
            x = self.blocks[i](x, ys[i])
        if top == 0:
            return self.to_rgb[0](x)
        new = self.to_rgb[top](self.blocks[top](x, ys[top]))
        if alpha is None:
            return new
        return torch.lerp(upsample2d(self.to_rgb[top - 1](x)), new, alpha)


class Discriminator(_Progressive):
    """ProGAN discriminator: ``D(images, labels=None, lod=None) -> (scores [N], logits [N, K] | None)``.

    Mirror of the generator (TF release ``D_paper``): 1x1 fromRGB + leaky ReLU per level, one block
    per resolution halving (its pooling placed as ``cfg.fused_scale`` says), and a 4x4 output block
    with the minibatch-stddev layer. Under AC-GAN
    conditioning the last dense layer also gives ``num_classes`` label logits; ``labels`` are not an
    input of this discriminator and are accepted only so every D has one signature.
    """

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__(cfg)
        sn = cfg.spectral_norm in ("d", "both")
        which_conv, which_linear, attention_conv = self._factories(cfg, sn)
        self.num_logits = self.num_classes if cfg.conditioning == "acgan" else 0
        self.blocks = nn.ModuleList([_DOutput(cfg, 1 + self.num_logits, which_conv, which_linear)])
        for res in range(3, self.resolution_log2 + 1):
            block: nn.Module = _DBlock(cfg.nf(res - 1), cfg.nf(res - 2), which_conv, fused=cfg.fused_scale)
            if 1 << res in cfg.attention:
                block = WithAttention(block, cfg.nf(res - 1), attention_conv, before=True)
            self.blocks.append(block)
        self.from_rgb = nn.ModuleList(_ConvAct(cfg.channels, cfg.nf(res - 1), 1, which_conv, norm=False)
                                      for res in range(2, self.resolution_log2 + 1))
        # Projection D (Miyato & Koyama 2018): score = dense1(h) + <embed(y), h> on the nf(0) features h.
        self.projection = (embedding(self.num_classes, cfg.nf(0), sn=sn, ortho=cfg.ortho_init)
                           if cfg.conditioning == "projection" else None)

    @property
    def batch_coupling(self) -> BatchCoupling:
        """The minibatch-stddev layer (group size > 1) and spectral norm; D has no batch norm."""
        group = self.cfg.mbstd_group_size  # as _DOutput: groups of 0 or 1 build no layer
        return BatchCoupling(spectral_norm=self.cfg.spectral_norm in ("d", "both"),
                             mbstd_group=group if group > 1 else 0)

    def forward(
        self, images: Tensor, labels: Tensor | None = None, lod: float | None = None
    ) -> tuple[Tensor, Tensor | None]:
        level, alpha = self._level_alpha(lod)
        r = 1 << level
        if images.dim() != 4 or images.shape[1:] != (self.channels, r, r):
            raise ValueError(f"images must have shape [N, {self.channels}, {r}, {r}] at lod "
                             f"{self.lod if lod is None else lod}, got {list(images.shape)}")
        return self.forward_at(images, labels, level, None if alpha >= 1.0 else alpha)

    def forward_at(
        self, images: Tensor, labels: Tensor | None, level: int, alpha: Tensor | float | None
    ) -> tuple[Tensor, Tensor | None]:
        """:meth:`forward` on ``2**level`` pixels with the newest block blended in by ``alpha`` (None: a
        stable phase), as :meth:`Generator.forward_at`."""
        top = level - 2
        x = self.from_rgb[top](images)
        if top > 0:
            x = self.blocks[top](x)
            if alpha is not None:
                x = torch.lerp(self.from_rgb[top - 1](downsample2d(images)), x, alpha)
            for i in range(top - 1, 0, -1):
                x = self.blocks[i](x)
        if self.projection is not None:
            head = cast(_DOutput, self.blocks[0])  # the ModuleList's first block is always the output block
            h = head.features(x)
            return head.dense1(h)[:, 0] + projection_term(self.projection, h, labels), None
        out = self.blocks[0](x)
        return out[:, 0], (out[:, 1:] if self.num_logits else None)
