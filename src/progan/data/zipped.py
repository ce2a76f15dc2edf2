"""A .zip archive of image files (same layout rules as a folder, read without extracting)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from progan.data.decode import is_image_name
from progan.data.source_types import FileSource, folder_labels
from progan.errors import DataError


class ZipReader:
    """Opens the archive once per worker task and reads members by name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None

    def __enter__(self) -> "ZipReader":
        self._zip = zipfile.ZipFile(self.path)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_zip": None}

    def read(self, ref: str) -> bytes:
        assert self._zip is not None
        return self._zip.read(ref)


def open_zip(path: Path) -> FileSource:
    try:
        with zipfile.ZipFile(path) as zf:
            members = [i.filename for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"cannot read zip archive {path}: {e}") from None
    visible = [m for m in members if not any(part.startswith((".", "__MACOSX")) for part in m.split("/"))]
    refs = sorted(m for m in visible if is_image_name(m))
    if not refs:
        raise DataError(f"no images found in zip archive {path}")
    labels, class_names = folder_labels(refs)
    desc = f"zip archive {path} ({len(refs)} files{f', {len(class_names)} classes' if class_names else ''})"
    return FileSource(kind="zip", path=path, description=desc, reader=ZipReader(path), refs=refs, names=refs,
                      labels=labels, class_names=class_names, ignored=len(visible) - len(refs))
