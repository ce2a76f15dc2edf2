"""The Fashion-MNIST demo data set that ``progan train`` uses when no --data is given."""

from __future__ import annotations

import os
from pathlib import Path

from progan.data.dataset import is_dataset, open_dataset
from progan.errors import DataError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
DEMO_NAME = "fashion-mnist-train-32"


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else $PROGAN_CACHE, else $XDG_CACHE_HOME/progan, else ~/.cache/progan."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("PROGAN_CACHE"):
        return Path(os.environ["PROGAN_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "progan" if xdg else Path.home() / ".cache" / "progan"


def default_dataset_dir(cache_dir: str | os.PathLike[str] | None = None, *,
                        source: str | os.PathLike[str] = DEBIAN_FASHION_MNIST, progress: bool = True) -> Path:
    """Prepared Fashion-MNIST (train split, 32x32, 1 channel, 10 labels), made once in the cache folder.

    The source is Debian's ``dataset-fashion-mnist`` package; a DataError says how to get it when absent.
    """
    from progan.data.idx import find_idx_files
    from progan.data.build import prepare

    out = cache_root(cache_dir) / "datasets" / DEMO_NAME
    if is_dataset(out):
        open_dataset(out)  # a damaged cache is an error, not silently re-used
        return out
    src = Path(source)
    if not src.is_dir() or "train" not in find_idx_files(src):
        raise DataError(f"the demo data set Fashion-MNIST is not installed in {src}: install it with "
                        "`apt-get install dataset-fashion-mnist`, or pass --data pointing at a folder of images "
                        "or a prepared data set")
    return prepare(src, out, split="train", labels=True, force=True, progress=progress)
