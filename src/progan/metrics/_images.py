"""Uniform, batched access to uint8 NCHW image sets given as NumPy arrays (memory-mapped or not) or
tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from progan.errors import UserError


@dataclass(frozen=True)
class ImageSource:
    """A uint8 [N, C, H, W] image set read in batches, so memory-mapped data is never loaded whole."""

    data: "np.ndarray | torch.Tensor"
    index: "np.ndarray | None" = None   # sorted rows of ``data`` to use (None: all)

    def __len__(self) -> int:
        return int(self.data.shape[0] if self.index is None else len(self.index))

    @property
    def channels(self) -> int:
        return int(self.data.shape[1])

    @property
    def resolution(self) -> int:
        return int(self.data.shape[2])

    def batch(self, start: int, stop: int, device: torch.device) -> torch.Tensor:
        """Images ``start:stop`` as a uint8 tensor on ``device``."""
        x = self.data[start:stop] if self.index is None else self.data[self.index[start:stop]]
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(np.ascontiguousarray(x))
        return x.to(device)


def as_image_source(images: "np.ndarray | torch.Tensor | ImageSource", name: str) -> ImageSource:
    """Check that ``images`` is a uint8 [N, C, H, H] set and wrap it."""
    if isinstance(images, ImageSource):
        return images
    if not isinstance(images, (np.ndarray, torch.Tensor)):
        raise UserError(f"{name}: expected a uint8 NumPy array or tensor, got {type(images).__name__}")
    if images.dtype not in (np.uint8, torch.uint8):
        raise UserError(f"{name}: expected uint8 images (0..255), got dtype {images.dtype}; "
                        "convert with (x*127.5+127.5).round().clamp(0,255) first")
    if images.ndim != 4 or images.shape[2] != images.shape[3]:
        raise UserError(f"{name}: expected square images shaped [N, C, H, H], got {tuple(images.shape)}")
    if images.shape[0] == 0:
        raise UserError(f"{name}: the image set is empty")
    return ImageSource(images)


def check_pair(a: ImageSource, b: ImageSource, metric: str) -> None:
    """Two sets compared image-for-image must agree in count, channels and resolution."""
    if len(a) != len(b):
        raise UserError(f"{metric}: both sets need the same number of images, got {len(a)} and {len(b)}")
    if (a.channels, a.resolution) != (b.channels, b.resolution):
        raise UserError(f"{metric}: image shapes differ: {a.channels}x{a.resolution}x{a.resolution} "
                        f"vs {b.channels}x{b.resolution}x{b.resolution}")


def cache_batch(source: ImageSource, pixels: int = 1 << 20) -> int:
    """Images per batch so that one batch holds about ``pixels`` values: filter passes then stay in cache,
    several times faster on CPU than batches of hundreds of large images."""
    return max(2, pixels // (source.channels * source.resolution * source.resolution))
