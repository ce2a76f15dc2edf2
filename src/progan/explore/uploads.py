"""Images uploaded to the explorer: size limits, then the decoding of ``progan prepare``.

An upload is untrusted: it is refused above a byte limit (the server also enforces it while receiving),
its header is read first so that a small file announcing a huge image is refused before decoding, and
it is decoded by :func:`progan.data.decode.decode`, the same code ``progan prepare`` uses (full decode,
so a truncated file fails; EXIF orientation; alpha over white; centre crop; Lanczos resize).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from progan.data.decode import decode, error_text, probe
from progan.errors import UserError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "read_mask", "read_target"]

DEFAULT_MAX_BYTES = 10 << 20     # 10 MiB
DEFAULT_MAX_PIXELS = 40_000_000  # 40 megapixels: a phone photo fits, a decompression bomb does not


def _why(exc: BaseException) -> str:
    # Pillow names the in-memory file it was given ("<_io.BytesIO object at 0x...>"): not news to a user.
    return re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "the data", error_text(exc))


def _read(path: str | os.PathLike[str], what: str, max_bytes: int, max_pixels: int) -> bytes:
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError:
        raise UserError(f"the uploaded {what} could not be read") from None
    if size > max_bytes:
        raise UserError(f"the uploaded {what} is {size / 2**20:.1f} MiB; "
                        f"the limit is {max_bytes / 2**20:.1f} MiB")
    data = p.read_bytes()
    try:
        width, height, _ = probe(data)
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for foreign data: "not an image"
        raise UserError(f"the uploaded {what} is not a readable image ({_why(e)})") from None
    if width * height > max_pixels:
        raise UserError(f"the uploaded {what} is {width}x{height} pixels; the limit is "
                        f"{max_pixels / 1e6:g} megapixels")
    return data


def _decode(data: bytes, what: str, resolution: int, channels: int) -> np.ndarray:
    try:
        image, _ = decode(data, resolution, channels, "center-crop")
    except Exception as e:  # noqa: BLE001 - as above
        raise UserError(f"the uploaded {what} is not a readable image ({_why(e)})") from None
    return image


def read_target(path: str | os.PathLike[str], resolution: int, channels: int, *,
                max_bytes: int = DEFAULT_MAX_BYTES, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """uint8 ``[channels, resolution, resolution]``: the central square, resized as ``progan prepare``
    does."""
    if channels not in (1, 3):
        raise UserError(f"projection of an uploaded image needs a grey or RGB generator; this one makes "
                        f"{channels} channels")
    return _decode(_read(path, "image", max_bytes, max_pixels), "image", resolution, channels)


def read_mask(path: str | os.PathLike[str], resolution: int, *, max_bytes: int = DEFAULT_MAX_BYTES,
              max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """bool ``[resolution, resolution]``, True where the target is known (white, grey >= 128)."""
    grey = _decode(_read(path, "mask", max_bytes, max_pixels), "mask", resolution, 1)[0]
    known = grey >= 128
    if not known.any():
        raise UserError("the mask has no white pixels: white = keep the target, black = fill in")
    return known
