"""The Fashion-MNIST demo data set that ``progan train`` uses when no --data is given."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from progan.cache import cache_root
from progan.data.build import prepare
from progan.data.dataset import is_dataset, open_dataset
from progan.data.idx import find_idx_files
from progan.errors import DataError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DEMO_NAME = "fashion-mnist-train-32"


def default_dataset_dir(cache_dir: str | os.PathLike[str] | None = None, *,
                        source: str | os.PathLike[str] = DEBIAN_FASHION_MNIST, progress: bool = True) -> Path:
    """Prepared Fashion-MNIST (train split, 32x32, 1 channel, 10 labels), made once in the cache folder.

    The source is Debian's ``dataset-fashion-mnist`` package; a DataError says how to get it when absent.
    """
    out = cache_root(cache_dir) / "datasets" / DEMO_NAME
    if is_dataset(out):
        open_dataset(out)  # a damaged cache is an error, not silently re-used
        return out
    src = Path(source)
    if not src.is_dir() or "train" not in find_idx_files(src):
        raise DataError(f"the demo data set Fashion-MNIST is not installed in {src}: install it with "
                        "`apt-get install dataset-fashion-mnist`, or pass --data pointing at a folder of "
                        "images or a prepared data set")
    return prepare(src, out, split="train", labels=True, force=True, progress=progress)


def resolve_data(data: str | os.PathLike[str] | None, cache_dir: str | os.PathLike[str] | None = None, *,
                 resolution: int | None = None, progress: bool = True) -> Path:
    """A prepared data set folder for ``--data``: None -> the demo set; a prepared folder -> itself; any other
    source (image folder, zip, MNIST, CIFAR, LSUN, CelebA) -> prepared once into the cache, keyed by the
    source's path, size and modification time and the requested resolution, and re-used after that.
    A folder's mtime changes when entries are added to or removed from it, not when files deep inside
    change; prepare explicitly (``progan prepare``) for full control."""
    if data is None:
        return default_dataset_dir(cache_dir, progress=progress)
    src = Path(data)
    if is_dataset(src):
        return src
    if not src.exists():
        raise DataError(f"--data {src} does not exist")
    st = src.stat()
    identity = f"{src.resolve()}|{st.st_size}|{st.st_mtime_ns}|{resolution}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:12]
    out = cache_root(cache_dir) / "datasets" / f"{src.name or 'data'}-{key}"
    if is_dataset(out):
        return out
    return prepare(src, out, resolution=resolution, force=True, progress=progress)
