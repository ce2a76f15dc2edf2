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
from pathlib import Path

from progan.data import celeba, cifar, folder, idx, lsun, zipped
from progan.data.source_types import ArraySource, FileSource, Reader, Source, folder_labels
from progan.errors import DataError

__all__ = ["ArraySource", "FileSource", "Reader", "Source", "detect", "folder_labels"]


def detect(path: str | os.PathLike[str], split: str = "train") -> Source:
    """Recognise and open ``path``; DataError with a one-line message when it is none of the known kinds."""
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
