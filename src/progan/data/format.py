"""The on-disk layout of a prepared data set, shared by its writer and its reader."""

from __future__ import annotations

import hashlib
from pathlib import Path

FORMAT = "progan-dataset"
FORMAT_VERSION = 1
META_FILE = "dataset.json"
LABELS_FILE = "labels.npy"
SKIPPED_FILE = "skipped.txt"


def level_file(resolution: int) -> str:
    """The file of one resolution's uint8 array (``level-0032.npy``)."""
    return f"level-{resolution:04d}.npy"


def sha256_file(path: Path) -> str:
    # Read in blocks by hand: hashlib.file_digest needs Python 3.11, progan supports 3.10.
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
