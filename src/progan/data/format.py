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
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
