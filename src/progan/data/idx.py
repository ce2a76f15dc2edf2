"""MNIST-format idx files (MNIST, Fashion-MNIST, KMNIST, ...), plain or gzipped.

As the paper and the TF release's ``create_mnist``: 28x28 images are zero-padded by 2 pixels on each
side to 32x32 (in general: centred on a zero square of the next power of two).
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np

from progan.data.source_types import ArraySource
from progan.errors import DataError

_IMAGES = re.compile(r"^(train|t10k|test)-images[-.]idx3-ubyte(\.gz)?$")
_SPLIT_PREFIX = {"train": ("train",), "test": ("t10k", "test"), "all": ("train", "t10k", "test")}
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def find_idx_files(folder: Path) -> dict[str, Path]:
    """{prefix: images file} for the idx image files directly in ``folder``."""
    found: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        m = _IMAGES.match(f.name)
        if m and f.is_file():
            found.setdefault(m.group(1), f)
    return found


def _read(path: Path) -> bytes:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError) as e:
        raise DataError(f"cannot read {path}: {e}") from None


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse an unsigned-byte idx file of ``ndim`` dimensions (magic 0x0000080N, big-endian sizes)."""
    data = _read(path)
    header = 4 + 4 * ndim
    if len(data) < header or data[:3] != b"\0\0\x08" or data[3] != ndim:
        raise DataError(f"{path} is not a uint8 idx file with {ndim} dimensions")
    shape = tuple(int(v) for v in np.frombuffer(data, ">u4", count=ndim, offset=4))
    if len(data) != header + int(np.prod(shape)):
        raise DataError(f"{path} is truncated or has trailing data: header says {shape}, "
                        f"file has {len(data) - header} data bytes")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def _labels_file(images: Path) -> Path | None:
    stem = images.name.replace("images", "labels").replace("idx3", "idx1")
    for name in (stem, stem.removesuffix(".gz"), stem + ".gz"):
        if (images.parent / name).is_file():
            return images.parent / name
    return None


def pad_to_power_of_two(images: np.ndarray) -> np.ndarray:
    """[N, H, W] -> [N, 1, P, P] zero-padded, centred (28 -> 32 with 2 pixels each side)."""
    n, h, w = images.shape
    p = 1 << (max(h, w, 4) - 1).bit_length()
    if (h, w) == (p, p):
        return images[:, None]
    out = np.zeros((n, 1, p, p), np.uint8)
    top, left = (p - h) // 2, (p - w) // 2
    out[:, 0, top:top + h, left:left + w] = images
    return out


def open_idx(folder: Path, split: str) -> ArraySource:
    files = find_idx_files(folder)
    chosen = [files[k] for k in _SPLIT_PREFIX[split] if k in files]
    if not chosen:
        found = ", ".join(sorted(files)) or "none"
        raise DataError(f"no {split} images in idx folder {folder} (found: {found})")
    images, labels = [], []
    for f in chosen:
        img = read_idx(f, 3)
        lab_file = _labels_file(f)
        lab = read_idx(lab_file, 1) if lab_file is not None else None
        if lab is not None and len(lab) != len(img):
            raise DataError(f"{lab_file} has {len(lab)} labels for {len(img)} images in {f}")
        images.append(img)
        labels.append(lab)
    present = [lab for lab in labels if lab is not None]
    lab_all = np.concatenate(present).astype(np.int64) if len(present) == len(labels) else None
    if lab_all is not None and "fashion" in str(folder).lower() and lab_all.max(initial=0) < 10:
        class_names = FASHION_CLASSES
    elif lab_all is not None:
        class_names = [str(i) for i in range(int(lab_all.max(initial=-1)) + 1)]
    else:
        class_names = []
    stacked = pad_to_power_of_two(np.concatenate(images))
    desc = f"idx folder {folder} ({split} split: {', '.join(f.name for f in chosen)})"
    return ArraySource(kind="idx", path=folder, description=desc, images=stacked, labels=lab_all,
                       class_names=class_names)
