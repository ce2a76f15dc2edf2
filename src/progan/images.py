"""Conversions between network outputs and image files, and image grids."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Network range [-1, 1] -> uint8 [0, 255], rounded and clipped (as the TF release's
    ``adjust_dynamic_range``).

    The arithmetic happens in float32 whatever the input dtype, so bf16/fp16 outputs convert exactly as fp32.
    """
    return (images.detach().float() * 127.5 + 127.5).round_().clamp_(0, 255).to(torch.uint8)


def grid_shape(n: int, cols: int | None = None) -> tuple[int, int]:
    """(cols, rows) of a near-square grid holding ``n`` images."""
    cols = cols or max(1, int(math.ceil(math.sqrt(n))))
    return cols, int(math.ceil(n / cols))


def make_grid(images: np.ndarray | torch.Tensor, cols: int | None = None,
              size: int | None = None) -> np.ndarray:
    """Tile uint8 NCHW images into one HWC (or HW for one channel) array; ``size`` upscales by nearest."""
    arr = images.cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if arr.dtype != np.uint8:
        raise TypeError(f"make_grid expects uint8 images, got {arr.dtype}")
    n, c, h, w = arr.shape
    if size is not None and size != h:
        factor = size // h
        if factor < 1 or factor * h != size:
            raise ValueError(f"grid size {size} is not a multiple of image size {h}")
        arr = arr.repeat(factor, axis=2).repeat(factor, axis=3)
        h, w = arr.shape[2:]
    cols, rows = grid_shape(n, cols)
    grid = np.zeros((rows * h, cols * w, c), dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = arr[i].transpose(1, 2, 0)
    if c == 1:
        return grid[:, :, 0]
    if c not in (3, 4):  # N-channel data: show the first three channels
        return grid[:, :, :3] if c > 3 else np.concatenate([grid, grid[:, :, -1:]], axis=2)
    return grid


def save_image(array: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write an HW or HWC uint8 array as an image file, atomically (temp name + rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    Image.fromarray(array).save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
    os.replace(tmp, path)
    return path
