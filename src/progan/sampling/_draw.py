"""Text labels on uint8 images, with Pillow's built-in default font (no font files needed)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def to_rgb(image: np.ndarray) -> np.ndarray:
    """HW or HWC(1/3/4) uint8 -> HWx3."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3])


def text_band(width: int, height: int, text: str, *, align: str = "left") -> np.ndarray:
    """A black ``height x width`` RGB band with ``text`` in white, vertically centred."""
    band = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(band)
    size = max(6, int(height * 0.6))
    while True:  # shrink the text until it fits the width
        font = _font(size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        if right - left <= width - 4 or size <= 6:
            break
        size -= 1
    x = (width - (right - left)) // 2 - left if align == "center" else max(2, height // 5) - left
    draw.text((x, (height - (bottom - top)) // 2 - top), text, fill=(255, 255, 255), font=font)
    return np.asarray(band)


def label_above(image: np.ndarray, text: str, band_height: int) -> np.ndarray:
    """``image`` (RGB or grey) with a text band of ``band_height`` rows stacked on top."""
    rgb = to_rgb(image)
    return np.concatenate([text_band(rgb.shape[1], band_height, text), rgb], axis=0)
