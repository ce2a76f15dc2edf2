"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training"; the
authors' ``DiffAugment_pytorch.py`` defines the same operations), applied to every image, images in [-1, 1]:

- ``color``: brightness ``+ U(-0.5, 0.5)``; saturation: deviation from the per-pixel channel mean times
  ``U(0, 2)``; contrast: deviation from the image mean times ``U(0.5, 1.5)``.
- ``translation``: an integer shift of up to 1/8 of the size on each axis, zeros shifted in.
- ``cutout``: a square of half the size set to zero, its centre uniform over the image.

Parameters are drawn first for a batch (:meth:`DiffAugment.sample`) and applied after, as for ADA.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from progan.augment.params import Params
from progan.augment_names import parse_policy

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


@dataclass
class DiffAugmentParams(Params):
    brightness: Tensor   # [n] added
    saturation: Tensor   # [n] factor
    contrast: Tensor     # [n] factor
    shift: Tensor        # [n, 2] integer (dx, dy): output pixel (y, x) shows input (y + dy, x + dx)
    cutout: Tensor       # [n, 2] integer (x0, y0): first column and row of the square (may start outside)


def _extent(size: int, ratio: float) -> int:
    return int(size * ratio + 0.5)


class DiffAugment:
    """The policies named by ``policy`` (e.g. ``color,translation,cutout``), applied in that order."""

    def __init__(self, policy: str = "color,translation,cutout") -> None:
        self.policies = parse_policy(policy)

    def sample(self, n: int, shape: tuple[int, int, int], p: float,
               generator: torch.Generator) -> DiffAugmentParams:
        """Parameters for ``n`` images of ``shape`` (C, H, W); ``p`` is ignored (DiffAugment always
        applies)."""
        _, h, w = shape
        dev = generator.device

        def rand() -> Tensor:
            return torch.rand(n, generator=generator, device=dev)

        def randint(low: int, high: int) -> Tensor:
            return torch.randint(low, high, (n,), generator=generator, device=dev)

        bright, sat, con = torch.zeros(n, device=dev), torch.ones(n, device=dev), torch.ones(n, device=dev)
        shift = torch.zeros(n, 2, dtype=torch.long, device=dev)
        cut = torch.full((n, 2), -max(h, w), dtype=torch.long, device=dev)   # entirely outside: no cutout
        for policy in self.policies:
            if policy == "color":
                bright, sat, con = rand() - 0.5, rand() * 2, rand() + 0.5
            elif policy == "translation":
                sx, sy = _extent(w, TRANSLATION_RATIO), _extent(h, TRANSLATION_RATIO)
                shift = torch.stack([randint(-sx, sx + 1), randint(-sy, sy + 1)], dim=1)
            elif policy == "cutout":
                cw, chh = _extent(w, CUTOUT_RATIO), _extent(h, CUTOUT_RATIO)
                # The centre is uniform over the image (one more position for even sizes, as the authors').
                cx = randint(0, w + (1 - cw % 2))
                cy = randint(0, h + (1 - chh % 2))
                cut = torch.stack([cx - cw // 2, cy - chh // 2], dim=1)
        return DiffAugmentParams(bright, sat, con, shift, cut)

    def apply(self, images: Tensor, params: DiffAugmentParams) -> Tensor:
        """The augmented images; differentiable in ``images``."""
        if images.dtype not in (torch.float32, torch.float64):
            images = images.float()
        x = images
        for policy in self.policies:
            if policy == "color":
                x = self._color(x, params)
            elif policy == "translation":
                x = self._translate(x, params.shift)
            elif policy == "cutout":
                x = x * self._cutout_mask(x, params.cutout)
        return x

    @staticmethod
    def _color(x: Tensor, prm: DiffAugmentParams) -> Tensor:
        def col(v: Tensor) -> Tensor:
            return v.to(x.dtype)[:, None, None, None]

        x = x + col(prm.brightness)
        mean = x.mean(dim=1, keepdim=True)
        x = (x - mean) * col(prm.saturation) + mean
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * col(prm.contrast) + mean

    @staticmethod
    def _translate(x: Tensor, shift: Tensor) -> Tensor:
        n, c, h, w = x.shape
        sx = torch.arange(w, device=x.device)[None, :] + shift[:, 0:1]     # [n, W] source columns
        sy = torch.arange(h, device=x.device)[None, :] + shift[:, 1:2]     # [n, H] source rows
        inside = ((sy >= 0) & (sy < h))[:, :, None] & ((sx >= 0) & (sx < w))[:, None, :]
        flat = (sy.clamp(0, h - 1)[:, :, None] * w + sx.clamp(0, w - 1)[:, None, :]).reshape(n, 1, h * w)
        out = x.reshape(n, c, h * w).gather(2, flat.expand(n, c, h * w)).reshape(n, c, h, w)
        return out * inside[:, None].to(x.dtype)

    @staticmethod
    def _cutout_mask(x: Tensor, corner: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        cw, chh = _extent(w, CUTOUT_RATIO), _extent(h, CUTOUT_RATIO)
        cols = torch.arange(w, device=x.device)[None, :] - corner[:, 0:1]
        rows = torch.arange(h, device=x.device)[None, :] - corner[:, 1:2]
        inside = ((rows >= 0) & (rows < chh))[:, :, None] & ((cols >= 0) & (cols < cw))[:, None, :]
        return (~inside)[:, None].to(x.dtype)
