"""The BigGAN generator and discriminator (Brock et al. 2019, App. B; the authors' BigGAN-PyTorch),
for 16 (tests), 32, 64, 128 and 256 pixels. No progressive growing: ``lod`` is always 0.

G: z (or its first chunk, with hierarchical latents) -> linear -> 4x4, then residual up-blocks
``relu(cbn(x)) -> up -> conv3x3 -> relu(cbn) -> conv3x3`` plus a 1x1 shortcut of ``up(x)``, each
conditional BN driven by ``shared_embedding(y) ++ z_chunk``; then BN, ReLU, conv3x3, tanh.
D: residual down-blocks (pre-activation from the second on), ReLU, global sum pooling, and a
projection head (``linear(h) + <embed(y), h>``; Miyato & Koyama 2018) or an AC-GAN head.

The architecture is data (:func:`generator_arch`, :func:`discriminator_arch`): one entry per block
with its widths, resampling and attention. Blocks receive layer factories (``which_conv``,
``which_bn``), so spectral norm, orthogonal init or conditional BN are switched in one place.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from progan.config import NetworkConfig
from progan.errors import UserError
from progan.networks.conditioning import LatentConditioner, cbn_factory
from progan.networks.coupling import BatchCoupling
from progan.nn.attention import SelfAttention
from progan.nn.crossreplica import CrossReplicaBatchNorm2d
from progan.nn.projection import ProjectionHead
from progan.nn.resample import downsample2d, upsample2d
from progan.nn.spectral import ConvFactory, conv2d, linear

# Width multipliers of ``biggan_ch`` (BigGAN-PyTorch ``G_arch`` / ``D_arch``; 16 is ours, for tests).
# G: input width of every up-block, then the width of the last block's output.
G_WIDTHS: dict[int, tuple[int, ...]] = {
    16: (4, 4, 4),
    32: (4, 4, 4, 4),
    64: (16, 16, 8, 4, 2),
    128: (16, 16, 8, 4, 2, 1),
    256: (16, 16, 8, 8, 4, 2, 1),
}
# D: (output width, downsample) of every block.
D_WIDTHS: dict[int, tuple[tuple[int, bool], ...]] = {
    16: ((4, True), (4, True), (4, False)),
    32: ((4, True), (4, True), (4, False), (4, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (16, False)),
    128: ((1, True), (2, True), (4, True), (8, True), (16, True), (16, False)),
    256: ((1, True), (2, True), (4, True), (8, True), (8, True), (16, True), (16, False)),
}
BOTTOM = 4  # G's first feature map is BOTTOM x BOTTOM


@dataclass(frozen=True)
class BlockSpec:
    """One residual block: widths, output resolution, resampling, and whether attention follows it."""

    in_ch: int
    out_ch: int
    resolution: int       # output resolution of the block
    resample: bool        # up (G) or down (D) by 2
    attention: bool


def _checked(specs: list[BlockSpec], net: str) -> list[BlockSpec]:
    for s in specs:
        if s.attention and s.out_ch % 8:
            raise UserError(f"self-attention at {s.resolution}px in {net} needs a multiple of 8 channels, "
                            f"{s.out_ch} there: raise network.biggan_ch or change network.attention")
    return specs


def generator_arch(resolution: int, ch: int, attention: list[int] | tuple[int, ...] = ()) -> list[BlockSpec]:
    widths = [ch * m for m in G_WIDTHS[resolution]]
    return _checked([BlockSpec(widths[i], widths[i + 1], BOTTOM << (i + 1), True,
                               (BOTTOM << (i + 1)) in attention)
                     for i in range(len(widths) - 1)], "G")


def discriminator_arch(resolution: int, channels: int, ch: int,
                       attention: list[int] | tuple[int, ...] = ()) -> list[BlockSpec]:
    specs, cin, res = [], channels, resolution
    for mult, down in D_WIDTHS[resolution]:
        res = res // 2 if down else res
        specs.append(BlockSpec(cin, ch * mult, res, down, res in attention))
        cin = ch * mult
    return _checked(specs, "D")


class GBlock(nn.Module):
    """Residual up-block of BigGAN's G; ``which_bn(channels, cond_dim)`` makes its (conditional) norms."""

    def __init__(self, spec: BlockSpec, which_conv: ConvFactory,
                 which_bn: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.bn1 = which_bn(spec.in_ch)
        self.conv1 = which_conv(spec.in_ch, spec.out_ch, 3)
        self.bn2 = which_bn(spec.out_ch)
        self.conv2 = which_conv(spec.out_ch, spec.out_ch, 3)
        self.conv_sc = which_conv(spec.in_ch, spec.out_ch, 1)  # G always upsamples: a learnable shortcut
        self.attention = SelfAttention(spec.out_ch, which_conv) if spec.attention else None

    def forward(self, x: Tensor, y: Tensor | None) -> Tensor:
        h = upsample2d(F.relu(self.bn1(x, y)))
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        out = h + self.conv_sc(upsample2d(x))
        return out if self.attention is None else self.attention(out)


class DBlock(nn.Module):
    """Residual down-block of BigGAN's D (the first block has no pre-activation: it sees the image)."""

    def __init__(self, spec: BlockSpec, which_conv: ConvFactory, *, preactivation: bool) -> None:
        super().__init__()
        self.preactivation = preactivation
        self.downsample = spec.resample
        self.conv1 = which_conv(spec.in_ch, spec.out_ch, 3)
        self.conv2 = which_conv(spec.out_ch, spec.out_ch, 3)
        learnable = spec.in_ch != spec.out_ch or spec.resample
        self.conv_sc = which_conv(spec.in_ch, spec.out_ch, 1) if learnable else None
        self.attention = SelfAttention(spec.out_ch, which_conv) if spec.attention else None

    def _shortcut(self, x: Tensor) -> Tensor:
        # Pre-activated blocks convolve first (cheaper at the lower width after pooling is the other order).
        if self.preactivation:
            x = x if self.conv_sc is None else self.conv_sc(x)
            return downsample2d(x) if self.downsample else x
        x = downsample2d(x) if self.downsample else x
        return x if self.conv_sc is None else self.conv_sc(x)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = downsample2d(h)
        out = h + self._shortcut(x)
        return out if self.attention is None else self.attention(out)


class _BigGANBase(nn.Module):
    """Attributes every progan network has; BigGAN nets do not grow, so ``lod`` stays 0."""

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__()
        cfg.validate()
        if cfg.architecture != "biggan":
            raise ValueError(f"network config is for architecture {cfg.architecture!r}, not biggan")
        self.cfg = cfg
        self.resolution = cfg.resolution
        self.channels = cfg.channels
        self.num_classes = cfg.num_classes if cfg.conditioning != "none" else 0
        self.lod: float = 0.0
        self.max_lod = 0.0

    @property
    def output_resolution(self) -> int:
        return self.resolution

    def _check_lod(self, lod: float | None) -> None:
        if lod not in (None, 0, 0.0) or self.lod != 0:
            raise ValueError("the biggan architecture does not grow: lod must be 0, "
                             f"got {self.lod if lod is None else lod}")


class Generator(_BigGANBase):
    """BigGAN generator: ``G(z, labels=None, lod=None) -> [N, channels, r, r]`` in [-1, 1] (tanh).

    ``labels`` are class indices ``[N]`` (or soft rows ``[N, num_classes]``, mixed in embedding
    space); a conditional G needs them. With ``hierarchical_z`` the latent is split into
    ``cfg.num_z_chunks`` equal chunks: the first feeds the input layer, the others one block each.
    """

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__(cfg)
        self.z_dim = cfg.latent_size
        sn = cfg.spectral_norm in ("g", "both")
        which_conv = functools.partial(conv2d, sn=sn, ortho=cfg.ortho_init)
        which_linear = functools.partial(linear, sn=sn, ortho=cfg.ortho_init)
        arch = generator_arch(cfg.resolution, cfg.biggan_ch, cfg.attention)
        self.conditioner = LatentConditioner(cfg, len(arch), self.num_classes)
        which_bn = cbn_factory(cfg, self.conditioner.cond_dim)
        self.in_ch = arch[0].in_ch
        self.linear = which_linear(self.conditioner.input_dim, self.in_ch * BOTTOM * BOTTOM)
        self.blocks = nn.ModuleList(GBlock(spec, which_conv, which_bn) for spec in arch)
        self.out_bn = CrossReplicaBatchNorm2d(arch[-1].out_ch)
        self.out_conv = which_conv(arch[-1].out_ch, cfg.channels, 3)

    @property
    def batch_coupling(self) -> BatchCoupling:
        """BigGAN's G batch-normalises in every block (conditional BN) and before its output."""
        return BatchCoupling(batch_norm=True, spectral_norm=self.cfg.spectral_norm in ("g", "both"))

    def forward(self, z: Tensor, labels: Tensor | None = None, lod: float | None = None) -> Tensor:
        self._check_lod(lod)
        z0, conds = self.conditioner(z, labels)
        x = self.linear(z0).view(z.shape[0], self.in_ch, BOTTOM, BOTTOM)
        for block, y in zip(self.blocks, conds):
            x = block(x, y)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(x))))


class Discriminator(_BigGANBase):
    """BigGAN discriminator: ``D(images, labels=None, lod=None) -> (scores [N], logits [N, K] | None)``.

    Projection conditioning puts the class term into the scores (logits None); AC-GAN conditioning
    returns label logits from the same linear layer; unconditional is ``linear(h)``.
    """

    def __init__(self, cfg: NetworkConfig) -> None:
        super().__init__(cfg)
        sn = cfg.spectral_norm in ("d", "both")
        which_conv = functools.partial(conv2d, sn=sn, ortho=cfg.ortho_init)
        which_linear = functools.partial(linear, sn=sn, ortho=cfg.ortho_init)
        arch = discriminator_arch(cfg.resolution, cfg.channels, cfg.biggan_ch, cfg.attention)
        self.blocks = nn.ModuleList(DBlock(spec, which_conv, preactivation=i > 0)
                                    for i, spec in enumerate(arch))
        features = arch[-1].out_ch
        self.acgan = cfg.conditioning == "acgan"
        if self.acgan:
            self.head: nn.Module = which_linear(features, 1 + self.num_classes)
        else:
            self.head = ProjectionHead(features, self.num_classes, which_linear, sn=sn, ortho=cfg.ortho_init)

    @property
    def batch_coupling(self) -> BatchCoupling:
        """Spectral norm only: BigGAN's D has neither batch norm nor a minibatch-stddev layer."""
        return BatchCoupling(spectral_norm=self.cfg.spectral_norm in ("d", "both"))

    def forward(
        self, images: Tensor, labels: Tensor | None = None, lod: float | None = None
    ) -> tuple[Tensor, Tensor | None]:
        self._check_lod(lod)
        r = self.resolution
        if images.dim() != 4 or images.shape[1:] != (self.channels, r, r):
            raise ValueError(f"images must have shape [N, {self.channels}, {r}, {r}], "
                             f"got {list(images.shape)}")
        h = images
        for block in self.blocks:
            h = block(h)
        h = F.relu(h).sum(dim=(2, 3))  # global sum pooling, as BigGAN
        if self.acgan:
            out = self.head(h)
            return out[:, 0], out[:, 1:]
        return self.head(h, labels), None
