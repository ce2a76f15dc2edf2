"""What ``progan prepare`` can read, and how it tells the kinds apart.

Two shapes of source:
  * :class:`ArraySource` — the whole set is already a uint8 array (MNIST idx files, CIFAR pickles);
  * :class:`FileSource` — a list of encoded images (folder, zip, LSUN LMDB, aligned CelebA) that worker
    processes decode through a picklable *reader* (``with reader: reader.read(ref) -> bytes``).

Detection order for a folder: LSUN LMDB (``data.mdb``), MNIST idx files, CIFAR pickles, aligned CelebA
(``img_align_celeba*`` with 178x218 images), then any folder of images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from progan.errors import DataError


class Reader(Protocol):
    """Opens the container in a worker process and returns the encoded bytes of one item."""

    def __enter__(self) -> "Reader": ...
    def __exit__(self, *exc: Any) -> None: ...
    def read(self, ref: Any) -> bytes: ...


@dataclass
class ArraySource:
    kind: str
    path: Path
    description: str
    images: np.ndarray                  # uint8 [N, C, H, W], square
    labels: np.ndarray | None = None    # int64 [N]
    class_names: list[str] = field(default_factory=list)


@dataclass
class FileSource:
    kind: str
    path: Path
    description: str
    reader: Reader
    refs: list[Any]                     # one per image, given to reader.read
    names: list[str]                    # human-readable item names (for skipped.txt)
    labels: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)
    crop: tuple[int, int, int, int] | None = None   # a fixed crop box overriding --transform (CelebA)
    resolution: int | None = None       # native resolution when known without probing
    channels: int | None = None         # native channels when known without probing
    ignored: int = 0                    # non-image files seen and left alone


Source = ArraySource | FileSource


def folder_labels(relpaths: list[str]) -> tuple[np.ndarray | None, list[str]]:
    """ImageFolder layout: class = first folder below the deepest common folder, if there are >= 2 classes.

    A single wrapper folder (``photos/a/x.png``, ``photos/b/y.png``) is looked through; images lying beside
    class folders, or only one class, mean unlabelled.
    """
    parts = [p.split("/") for p in relpaths]
    depth = 0
    while all(len(p) > depth + 1 for p in parts) and len({p[depth] for p in parts}) == 1:
        depth += 1
    if not all(len(p) > depth + 1 for p in parts):
        return None, []
    names = sorted({p[depth] for p in parts})
    if len(names) < 2:
        return None, []
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[p[depth]] for p in parts], dtype=np.int64), names


def detect(path: str | os.PathLike[str], split: str = "train") -> Source:
    """Recognise and open ``path``; DataError with a one-line message when it is none of the known kinds."""
    from progan.data import celeba, cifar, folder, idx, lsun, zipped

    p = Path(path)
    if not p.exists():
        raise DataError(f"source {p} does not exist")
    if p.is_file():
        name = p.name.lower()
        if name.endswith(".zip"):
            return zipped.open_zip(p)
        if name.endswith((".tar.gz", ".tgz", ".tar")):
            return cifar.open_cifar(p, split)
        if name == "data.mdb":
            return lsun.open_lmdb(p.parent)
        raise DataError(f"cannot use {p} as a source: expected a folder of images, a .zip, a CIFAR .tar.gz, "
                        "an MNIST idx folder, an LSUN LMDB folder or an aligned CelebA folder")
    if (p / "dataset.json").is_file():
        raise DataError(f"{p} is already a prepared data set; pass it to training directly (--data {p})")
    if (p / "data.mdb").is_file():
        return lsun.open_lmdb(p)
    if idx.find_idx_files(p):
        return idx.open_idx(p, split)
    if cifar.find_cifar_dir(p) is not None:
        return cifar.open_cifar(p, split)
    if celeba.find_celeba_dir(p) is not None:
        return celeba.open_celeba(p)
    return folder.open_folder(p)
