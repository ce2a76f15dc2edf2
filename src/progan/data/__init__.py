"""Data: sources -> ``prepare`` -> multi-resolution arrays on disk -> ``Loader`` -> float minibatches.

Public API (imported lazily so that decode worker processes and ``progan prepare`` never import torch)::

    prepare(source, outdir, ...) -> Path          # progan prepare
    open_dataset(path) -> Dataset                 # memory-mapped levels, labels, metadata
    Loader(ds, seed=, mirror=, rank=, world_size=)  # endless, resumable, sharded minibatches
    default_dataset_dir(cache_dir=None) -> Path   # the Fashion-MNIST demo set
    resolve_data(data, cache_dir=None) -> Path    # --data: prepared folder as is, raw source prepared once
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from progan.data.build import prepare
    from progan.data.cache import default_dataset_dir, resolve_data
    from progan.data.dataset import Dataset, open_dataset
    from progan.data.loader import Loader

__all__ = ["prepare", "open_dataset", "Dataset", "Loader", "default_dataset_dir", "resolve_data"]

_WHERE = {"prepare": "build", "open_dataset": "dataset", "Dataset": "dataset", "Loader": "loader",
          "default_dataset_dir": "cache", "resolve_data": "cache"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
