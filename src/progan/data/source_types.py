"""The two shapes of a source ``progan prepare`` reads, shared by every per-format reader.

  * :class:`ArraySource`: the whole set is already a uint8 array (MNIST idx files, CIFAR pickles);
  * :class:`FileSource`: a list of encoded images (folder, zip, LSUN LMDB, aligned CelebA) that worker
    processes decode through a picklable *reader* (``with reader: reader.read(ref) -> bytes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np


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
