"""Reading a prepared data set (format: :mod:`progan.data.writer`): memory-mapped, nothing loaded eagerly."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from progan.data.format import FORMAT, FORMAT_VERSION, META_FILE, sha256_file
from progan.errors import DataError

_PREAD_MIN_BYTES = 32 << 10


class Dataset:
    """A prepared data set: uint8 NCHW levels from ``resolution`` down to 4, optional int64 labels."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta
        self.resolution: int = int(meta["resolution"])
        self.channels: int = int(meta["channels"])
        self.num_images: int = int(meta["num_images"])
        self.class_names: list[str] = [str(n) for n in meta.get("class_names") or []]
        self.num_classes: int = int(meta.get("num_classes") or 0)
        self._levels = {int(lv["resolution"]): lv for lv in meta["levels"]}
        self._arrays: dict[int, np.ndarray] = {}
        self._fds: dict[int, int] = {}
        self._labels: np.ndarray | None = None

    def __del__(self) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        # Sending a Dataset to another process (DDP spawn, worker pools) must not copy the memmapped arrays.
        return {"path": self.path, "meta": self.meta}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["meta"])  # type: ignore[misc]

    def close(self) -> None:
        """Close the file descriptors used by :meth:`gather` (memory maps close with the arrays)."""
        for fd in getattr(self, "_fds", {}).values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = {}

    def __len__(self) -> int:
        return self.num_images

    def __repr__(self) -> str:
        return (f"Dataset({str(self.path)!r}, {self.num_images} images, {self.resolution}x{self.resolution}x"
                f"{self.channels}, {self.num_classes} classes)")

    @property
    def resolutions(self) -> list[int]:
        """Available levels, largest first."""
        return sorted(self._levels, reverse=True)

    def images(self, resolution: int) -> np.ndarray:
        """Memory-mapped uint8 [N, C, resolution, resolution] (read-only)."""
        if resolution not in self._levels:
            raise DataError(f"data set {self.path} has no {resolution}x{resolution} level "
                            f"(levels: {', '.join(str(r) for r in self.resolutions)})")
        if resolution not in self._arrays:
            entry = self._levels[resolution]
            shape = (self.num_images, self.channels, resolution, resolution)
            self._arrays[resolution] = _load_npy(self.path / entry["file"], shape, np.uint8)
        return self._arrays[resolution]

    def gather(self, resolution: int, rows: np.ndarray) -> np.ndarray:
        """Copy of ``images(resolution)[rows]`` (uint8, in the order given), read in increasing file order.

        Large rows (>= 32 KiB, i.e. 128x128 RGB and up) are read with ``os.preadv`` straight into the output:
        touching a memory map at random costs a page fault per 4 KiB page on first use, which halves the
        throughput at 256x256; small rows are cheaper through the memory map's fancy indexing.
        """
        level = self.images(resolution)
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        row_bytes = int(np.prod(level.shape[1:]))
        if (row_bytes < _PREAD_MIN_BYTES or not hasattr(os, "preadv") or not isinstance(level, np.memmap)
                or level.filename is None):
            out = np.empty((len(rows),) + level.shape[1:], np.uint8)
            out[order] = level[rows[order]]
            return out
        fd = self._fds.get(resolution)
        if fd is None:  # setdefault: a loader's prefetch thread may get here at the same time
            new = os.open(level.filename, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            fd = self._fds.setdefault(resolution, new)
            if fd != new:
                os.close(new)
        base = level.offset
        out = np.empty((len(rows),) + level.shape[1:], np.uint8)
        flat = out.reshape(len(rows), row_bytes)
        for i in order:
            done, offset = 0, base + int(rows[i]) * row_bytes
            while done < row_bytes:
                n = os.preadv(fd, [flat[i, done:].data], offset + done)
                if n <= 0:
                    raise DataError(f"{level.filename} is shorter than its header says; "
                                    "prepare the data set again")
                done += n
        return out

    @property
    def labels(self) -> np.ndarray | None:
        """int64 [N] (memory-mapped), or None when unlabelled."""
        entry = self.meta.get("labels")
        if not entry:
            return None
        if self._labels is None:
            self._labels = _load_npy(self.path / entry["file"], (self.num_images,), np.int64)
        return self._labels

    def verify(self) -> None:
        """Recompute the sha256 of every array file; DataError naming the first one that differs."""
        entries = list(self._levels.values()) + ([self.meta["labels"]] if self.meta.get("labels") else [])
        for entry in entries:
            if sha256_file(self.path / entry["file"]) != entry["sha256"]:
                raise DataError(f"{self.path / entry['file']} is corrupt (checksum mismatch); "
                                "prepare the data set again")


def _load_npy(path: Path, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{path} is missing; the data set is incomplete, prepare it again") from None
    except (ValueError, OSError) as e:
        raise DataError(f"{path} is not a readable array ({e}); prepare the data set again") from None
    if arr.shape != shape or arr.dtype != dtype:
        raise DataError(f"{path} holds {arr.dtype} {list(arr.shape)}, expected {np.dtype(dtype)} "
                        f"{list(shape)}; prepare the data set again")
    return arr


def is_dataset(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / META_FILE).is_file()


def open_dataset(path: str | os.PathLike[str], verify: bool = False) -> Dataset:
    """Open a prepared folder; DataError (one line) if missing, not a data set, or inconsistent.

    Array headers and shapes are always checked; ``verify`` also recomputes the sha256 checksums.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"data set {p} does not exist")
    meta_path = p / META_FILE
    if not meta_path.is_file():
        partial = p.is_dir() and any(e.startswith(".partial-") for e in os.listdir(p))
        hint = " (an interrupted prepare?)" if partial else ""
        raise DataError(f"{p} is not a prepared data set: no {META_FILE}{hint}; "
                        f"create one with progan prepare SOURCE {p}")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{meta_path} is unreadable ({e}); prepare the data set again") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{meta_path} is not a progan data set description")
    if meta.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{p} has data set format {meta.get('format_version')}, this progan reads "
                        f"{FORMAT_VERSION}; prepare it again")
    try:
        ds = Dataset(p, meta)
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{meta_path} is incomplete ({e}); prepare the data set again") from None
    for r in ds.resolutions:
        ds.images(r)
    ds.labels  # noqa: B018 - checks the file
    if verify:
        ds.verify()
    return ds
