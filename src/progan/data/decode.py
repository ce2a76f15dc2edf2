"""Decoding one image file into a square uint8 CHW array at the target resolution.

Used inside the decode worker processes, so it imports only numpy and Pillow.

Mode conversion (Pillow modes):
  * ``L``, ``RGB``: kept; ``1``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``: Pillow's own RGB/L conversion.
  * ``LA``, ``RGBA``, ``PA``, ``P`` with transparency, ``La``, ``RGBa``: alpha-composited over **white**
    (the way browsers and viewers show transparent PNGs; composing over black would darken every
    anti-aliased edge of the usual "object on transparent background" images).
  * ``I;16*``, ``I`` (16-bit PNG/TIFF): scaled to 8 bit as ``round(v * 255 / 65535)``; ``F`` clipped to 0..255
  * GIF/WebP animations: the first frame.
  * EXIF orientation is applied (``PIL.ImageOps.exif_transpose``) before any crop.
  * ``channels=1`` from colour uses Pillow's ITU-R 601-2 luma (``convert("L")``); ``channels=3`` from grey
    repeats the grey channel.

Geometry (``transform``): ``center-crop`` takes the central square of side min(w, h) (offsets rounded down,
as the TF release's LSUN tool); ``pad`` centres the image on a black square of side max(w, h);
``stretch`` resizes w x h straight to the square. Resizing uses Lanczos (Pillow ``LANCZOS``, the
TF release's ``ANTIALIAS``), in one resample step from the crop box.
"""

from __future__ import annotations

import io
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

TRANSFORMS = ("center-crop", "pad", "stretch")
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".webp", ".bmp", ".gif", ".tif", ".tiff",
                              ".ppm", ".pgm", ".pbm", ".pnm"})
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_ALPHA_MODES = frozenset({"LA", "La", "RGBA", "RGBa", "PA"})
_EXIF_ORIENTATION = 0x0112


def is_image_name(name: str) -> bool:
    dot = name.rfind(".")
    return dot >= 0 and name[dot:].lower() in IMAGE_EXTENSIONS


def open_image(data: bytes | BinaryIO) -> Image.Image:
    """Open and fully decode an image (raises on truncated/corrupt data), EXIF orientation applied."""
    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    img: Image.Image = Image.open(source)
    img.load()
    if img.getexif().get(_EXIF_ORIENTATION, 1) != 1:
        img = ImageOps.exif_transpose(img)
    return img


def to_channels(img: Image.Image, channels: int) -> Image.Image:
    """Convert any Pillow mode to ``L`` (channels=1) or ``RGB`` (channels=3), see the module docstring."""
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        v = np.asarray(img, dtype=np.int64)
        img = Image.fromarray(((np.clip(v, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8), "L")
        mode = "L"
    elif mode == "F":
        v = np.rint(np.clip(np.asarray(img, dtype=np.float32), 0, 255))
        img = Image.fromarray(v.astype(np.uint8), "L")
        mode = "L"
    if (mode == "P" and "transparency" in img.info) or mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        mode = "RGB" if mode not in ("LA", "La") else "L"
        img = img.convert(mode)
    target = "L" if channels == 1 else "RGB"
    return img if img.mode == target else img.convert(target)


def square_box(width: int, height: int, transform: str) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the square region that ``transform`` maps onto the output."""
    if transform == "center-crop":
        s = min(width, height)
        left, top = (width - s) // 2, (height - s) // 2
        return left, top, left + s, top + s
    if transform == "pad":
        s = max(width, height)
        left, top = -((s - width) // 2), -((s - height) // 2)
        return left, top, left + s, top + s
    return 0, 0, width, height


def base_side(width: int, height: int, transform: str) -> int:
    """Side of the square the transform produces before resizing (what limits the default resolution)."""
    return max(width, height) if transform == "pad" else min(width, height)


def fit(img: Image.Image, resolution: int, transform: str,
        crop: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Crop/pad/stretch to a square, resize with Lanczos to ``resolution``; returns uint8 [C, res, res]."""
    box = crop or square_box(img.width, img.height, transform)
    if box[0] < 0 or box[1] < 0 or box[2] > img.width or box[3] > img.height:
        # pad: paste onto a black canvas first; resize cannot sample outside the image.
        canvas = Image.new(img.mode, (box[2] - box[0], box[3] - box[1]), 0)
        canvas.paste(img, (-box[0], -box[1]))
        img, box = canvas, (0, 0, canvas.width, canvas.height)
    if (box[2] - box[0], box[3] - box[1]) == (resolution, resolution):
        out = img.crop(box) if box != (0, 0, img.width, img.height) else img
    else:
        out = img.resize((resolution, resolution), Image.Resampling.LANCZOS, box=box)
    arr = np.asarray(out, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def decode(data: bytes | BinaryIO, resolution: int, channels: int, transform: str,
           crop: tuple[int, int, int, int] | None = None) -> tuple[np.ndarray, bool]:
    """One encoded image -> (uint8 [channels, resolution, resolution], whether the file was greyscale)."""
    img = open_image(data)
    return fit(to_channels(img, channels), resolution, transform, crop), img.mode in GRAY_MODES


def probe(data: bytes | BinaryIO) -> tuple[int, int, str]:
    """(width, height, mode) from the header only; EXIF rotation does not change min/max side."""
    with Image.open(io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data) as img:
        return img.width, img.height, img.mode


def error_text(exc: BaseException) -> str:
    """Short one-line reason for skipped.txt."""
    msg = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {msg}"[:200]
