"""Real-data statistics cache: arrays keyed by a hash of everything that changes them, written atomically.

As stylegan2-ada-pytorch's ``metric_utils`` does for its dataset statistics: the key hashes the data set
content (its per-file checksums), the resolution, which images were taken, the feature extractor and
the cache format; files are written under a temporary name and renamed, so an interrupted run never
leaves a truncated entry and concurrent runs do not corrupt each other.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from progan.cache import cache_root

CACHE_VERSION = 1

__all__ = ["cache_key", "default_cache_dir", "cached_arrays"]


def default_cache_dir() -> Path:
    """The ``metrics`` folder of progan's cache (:func:`progan.cache.cache_root`: $PROGAN_CACHE or
    ~/.cache/progan)."""
    return cache_root() / "metrics"


def cache_key(**parts: object) -> str:
    """A stable hash of JSON-serialisable ``parts`` (plus the cache format version)."""
    doc = json.dumps({"version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()[:24]


def cached_arrays(
    cache_dir: str | os.PathLike[str] | None,
    name: str,
    key: str,
    compute: Callable[[], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """Load ``<cache_dir>/<name>-<key>.npz`` or compute, store and return it. ``cache_dir=None``: the default
    folder; an empty string: no cache at all (compute every time, write nothing)."""
    if cache_dir is not None and not str(cache_dir):
        return compute()
    if cache_dir is None:
        cache_dir = default_cache_dir()
    path = Path(cache_dir) / f"{name}-{key}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):
            pass  # unreadable entry: recompute and replace it
    arrays = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            # mypy matches the unpacked names against savez's allow_pickle: bool; they are array names.
            np.savez(f, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache location only costs time
    return arrays
