"""A folder of image files, searched recursively (ImageFolder class sub-folders become labels)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from progan.data.decode import is_image_name
from progan.data.source_types import FileSource, folder_labels
from progan.errors import DataError


class FolderReader:
    """Reads files below ``root`` by relative POSIX path."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __enter__(self) -> "FolderReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def read(self, ref: str) -> bytes:
        with open(self.root / ref, "rb") as f:
            return f.read()


def list_images(root: Path) -> tuple[list[str], int]:
    """Sorted relative paths of image files below ``root`` (hidden entries skipped), and how many others."""
    found: list[str] = []
    ignored = 0
    seen = {os.path.realpath(root)}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        # symlinked folders are followed, but each real folder once: a link to a parent must not loop forever
        keep = []
        for d in sorted(dirnames):
            real = os.path.realpath(os.path.join(dirpath, d))
            if not d.startswith(".") and real not in seen:
                seen.add(real)
                keep.append(d)
        dirnames[:] = keep
        rel = os.path.relpath(dirpath, root)
        for name in filenames:
            if name.startswith("."):
                continue
            if is_image_name(name):
                found.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
            else:
                ignored += 1
    return sorted(found), ignored


def open_folder(root: Path) -> FileSource:
    refs, ignored = list_images(root)
    if not refs:
        raise DataError(f"no images found in {root} "
                        "(looked recursively for png, jpg, webp, bmp, gif, tif files)")
    labels, class_names = folder_labels(refs)
    desc = f"image folder {root} ({len(refs)} files{f', {len(class_names)} classes' if class_names else ''})"
    return FileSource(kind="folder", path=root, description=desc, reader=FolderReader(root), refs=refs,
                      names=refs, labels=labels, class_names=class_names, ignored=ignored)
