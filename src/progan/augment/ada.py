"""ADA's augmentation pipeline (Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data", Sec. 2-3 and Appendix B; the ``AugmentPipe`` of stylegan2-ada-pytorch describes the same
operations): each enabled operation is applied to each image with probability ``p``; ranges are the
paper's defaults.

Leaks (paper, Sec. 2.2): an augmentation applied with probability p < 1 is non-leaking when the
transformed distribution still determines the original one, which holds for every operation here; the
paper measured G starting to reproduce augmentations (e.g. the discrete rotations) only above p of about
0.8, a range the adaptive p rarely reaches. ``benchmarks/bench_augment.py`` checks rotate90 on trained runs.

Parameters are drawn first, for a whole batch, from a generator the caller passes
(:meth:`AdaPipeline.sample`), and applied after (:meth:`AdaPipeline.apply`), so the training loop can
draw them for the global batch and hand each rank and micro-batch its rows. Images whose parameters are
all identities pass through bit for bit; ``apply`` is differentiable in the images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from progan.augment import color as col
from progan.augment import geometry as geo
from progan.augment.params import Params
from progan.augment_names import ADA_OPS, parse_pipeline

# Ranges (ADA, Appendix B): translations relative to the image size, log2 standard deviations for scales.
XINT_MAX = 0.125
SCALE_STD = 0.2
ROTATE_MAX = 1.0        # 1 = full circle
ANISO_STD = 0.2
XFRAC_STD = 0.125
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5
HUE_MAX = 1.0
SATURATION_STD = 1.0
IMGFILTER_STD = 1.0
NOISE_STD = 0.1
CUTOUT_SIZE = 0.5

_F64 = torch.float64


@dataclass
class AdaParams(Params):
    """Per-image parameters of one batch; identities where an operation was not drawn."""

    G_inv: Tensor        # [n, 3, 3] geometric transform, output -> input pixel coordinates
    C: Tensor            # [n, 4, 4] colour transform
    band_raw: Tensor     # [n, 4] image-space filter amplifications (1 = band untouched)
    noise_std: Tensor    # [n] additive noise standard deviation (0 = none)
    noise: Tensor        # [n, C, H, W] unit Gaussian noise, or [n, 0] without the noise operation
    cutout: Tensor       # [n] cutout square side relative to the image (0 = none)
    cutout_centre: Tensor  # [n, 2] (x, y) relative to the image


class AdaPipeline:
    """ADA's pipeline restricted to ``ops`` (a group such as ``bgc`` or a comma list of operations)."""

    def __init__(self, ops: str | tuple[str, ...] = "bgc") -> None:
        self.ops = parse_pipeline(ops) if isinstance(ops, str) else tuple(o for o in ADA_OPS if o in ops)
        self._bank: Tensor | None = None

    # -- drawing -----------------------------------------------------------------------------------
    def sample(self, n: int, shape: tuple[int, int, int], p: float, generator: torch.Generator) -> AdaParams:
        """Parameters for ``n`` images of ``shape`` (C, H, W) at probability ``p``; every random number
        from ``generator`` (on the device the images will be on), in a fixed order."""
        channels, height, width = shape
        dev = generator.device

        def rand(*size: int) -> Tensor:
            return torch.rand(size or (n,), generator=generator, device=dev).to(_F64)

        def randn(*size: int) -> Tensor:
            return torch.randn(size or (n,), generator=generator, device=dev).to(_F64)

        def gate(prob: float, *size: int) -> Tensor:
            return rand(*size) < prob

        has = set(self.ops)
        ones, zeros = torch.ones(n, dtype=_F64, device=dev), torch.zeros(n, dtype=_F64, device=dev)
        G = torch.eye(3, dtype=_F64, device=dev).expand(n, 3, 3).clone()
        if "xflip" in has:
            flip = torch.where(gate(p), torch.floor(rand() * 2), zeros)
            G = G @ geo.scale(1 - 2 * flip, ones)
        if "rotate90" in has:
            k = torch.where(gate(p), torch.floor(rand() * 4), zeros).long()
            cos = torch.tensor([1.0, 0.0, -1.0, 0.0], dtype=_F64, device=dev)[k]   # exact entries
            sin = torch.tensor([0.0, 1.0, 0.0, -1.0], dtype=_F64, device=dev)[k]
            G = G @ geo.rotate(cos, sin)
        if "xint" in has:
            t = (rand(n, 2) * 2 - 1) * XINT_MAX
            t = torch.where(gate(p, n, 1), t, torch.zeros_like(t))
            G = G @ geo.translate(torch.round(t[:, 0] * width), torch.round(t[:, 1] * height))
        if "scale" in has:
            s = torch.where(gate(p), torch.exp2(randn() * SCALE_STD), ones)
            G = G @ geo.scale(s, s)
        # Rotation is drawn twice (around the anisotropic scaling), each with probability 1 - sqrt(1 - p),
        # so that some rotation happens with probability p.
        p_rot = 1 - math.sqrt(max(0.0, 1 - p))
        if "rotate" in has:
            theta = torch.where(gate(p_rot), (rand() * 2 - 1) * math.pi * ROTATE_MAX, zeros)
            G = G @ geo.rotate(torch.cos(theta), torch.sin(theta))
        if "aniso" in has:
            s = torch.where(gate(p), torch.exp2(randn() * ANISO_STD), ones)
            G = G @ geo.scale(s, 1 / s)
        if "rotate" in has:
            theta = torch.where(gate(p_rot), (rand() * 2 - 1) * math.pi * ROTATE_MAX, zeros)
            G = G @ geo.rotate(torch.cos(theta), torch.sin(theta))
        if "xfrac" in has:
            t = torch.where(gate(p, n, 1), randn(n, 2) * XFRAC_STD, torch.zeros(n, 2, dtype=_F64, device=dev))
            G = G @ geo.translate(t[:, 0] * width, t[:, 1] * height)

        C = torch.eye(4, dtype=_F64, device=dev).expand(n, 4, 4).clone()
        if "brightness" in has:
            C = col.brightness(torch.where(gate(p), randn() * BRIGHTNESS_STD, zeros)) @ C
        if "contrast" in has:
            C = col.contrast(torch.where(gate(p), torch.exp2(randn() * CONTRAST_STD), ones)) @ C
        if "lumaflip" in has:
            C = col.luma_flip(torch.where(gate(p), torch.floor(rand() * 2), zeros)) @ C
        if "hue" in has and channels > 1:
            C = col.hue_rotation(torch.where(gate(p), (rand() * 2 - 1) * math.pi * HUE_MAX, zeros)) @ C
        if "saturation" in has and channels > 1:
            C = col.saturation(torch.where(gate(p), torch.exp2(randn() * SATURATION_STD), ones)) @ C

        band_raw = torch.ones(n, len(col.BAND_POWER), dtype=_F64, device=dev)
        if "imgfilter" in has:
            for i in range(band_raw.shape[1]):
                band_raw[:, i] = torch.where(gate(p), torch.exp2(randn() * IMGFILTER_STD), ones)
        noise_std, noise = zeros, torch.zeros(n, 0, device=dev)
        if "noise" in has:
            noise_std = torch.where(gate(p), randn().abs() * NOISE_STD, zeros)
            noise = torch.randn(n, channels, height, width, generator=generator, device=dev)
        cut, centre = zeros, torch.zeros(n, 2, dtype=_F64, device=dev)
        if "cutout" in has:
            cut = torch.where(gate(p), torch.full_like(zeros, CUTOUT_SIZE), zeros)
            centre = rand(n, 2)
        return AdaParams(G, C, band_raw, noise_std, noise, cut, centre)

    # -- applying ----------------------------------------------------------------------------------
    def apply(self, images: Tensor, params: AdaParams) -> Tensor:
        """The augmented images (float32, or float64 for float64 input); differentiable in ``images``."""
        if images.dtype not in (torch.float32, torch.float64):
            images = images.float()
        images = geo.warp(images, params.G_inv)
        eye = torch.eye(4, dtype=params.C.dtype, device=params.C.device)
        recolour = ~(params.C == eye).flatten(1).all(dim=1)
        images = geo.apply_subset(images, recolour, lambda x, i: col.apply_color(x, params.C[i]))
        refilter = (params.band_raw != 1).any(dim=1)
        if bool(refilter.any()):
            bank = self._filter_bank(images.device)
            gains = col.band_gains(params.band_raw)
            images = geo.apply_subset(images, refilter, lambda x, i: col.apply_filter(x, gains[i], bank))
        noisy = params.noise_std > 0
        images = geo.apply_subset(
            images, noisy,
            lambda x, i: x + (params.noise[i].to(x.dtype)
                              * params.noise_std[i].to(x.dtype)[:, None, None, None]))
        images = geo.apply_subset(images, params.cutout > 0, lambda x, i: x * self._cutout_mask(x, params, i))
        return images

    def _filter_bank(self, device: torch.device) -> Tensor:
        if self._bank is None or self._bank.device != device:
            self._bank = torch.as_tensor(col.filter_bank(), dtype=_F64, device=device)
        return self._bank

    @staticmethod
    def _cutout_mask(x: Tensor, params: AdaParams, i: Tensor) -> Tensor:
        """0 inside the square (by pixel centres), 1 outside; [k, 1, H, W]."""
        h, w = x.shape[-2:]
        size, centre = params.cutout[i], params.cutout_centre[i]
        cx = ((torch.arange(w, device=x.device, dtype=_F64) + 0.5) / w)[None, :] - centre[:, 0:1]
        cy = ((torch.arange(h, device=x.device, dtype=_F64) + 0.5) / h)[None, :] - centre[:, 1:2]
        out_x = cx.abs() >= size[:, None] / 2
        out_y = cy.abs() >= size[:, None] / 2
        return (out_y[:, :, None] | out_x[:, None, :]).to(x.dtype)[:, None]
