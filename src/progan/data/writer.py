"""Writing a prepared data set: the on-disk format and its atomic creation.

Format (``format_version`` 1), one folder:

  ``dataset.json``      metadata: format/version, resolution, channels, num_images, num_classes, class_names,
                        levels (file, shape, sha256 per resolution), labels file + sha256, source description,
                        prepare options, skipped count, progan version. Written **last**, so a folder without
                        it is never a data set.
  ``level-RRRR.npy``    uint8 [N, C, R, R] (NCHW) for every R from the full resolution down to 4, plain
                        ``.npy`` (read with ``np.load(mmap_mode="r")``, never ``allow_pickle``).
  ``labels.npy``        int64 [N], present when the set is labelled.
  ``skipped.txt``       one line per skipped input: ``name<TAB>reason``.

Images are stored pre-shuffled (row order = the seeded permutation, see :mod:`progan.data.build`).

Lower levels follow the TF release's ``dataset_tool.py`` (``TFRecordExporter.add_image``) exactly: the
image is carried **in float32** from level to level, each step a 2x2 box average
``(a + b + c + d) * 0.25`` of the unrounded level above, and every level is stored as ``np.rint`` (round
half to even) of that float, clipped to uint8. Because all partial sums are exact in float32 up to
1024 -> 4, level R equals ``rint(mean of the (F/R)x(F/R) block of the full-resolution image)``; it differs
from the box average of the *stored* (rounded) level above by at most 1.

Atomicity without writing outside OUTDIR: everything is written into ``OUTDIR/.partial-<pid>/``, moved into
OUTDIR with ``os.replace`` when complete, and ``dataset.json`` is renamed into place last. An interrupted
run leaves at most a hidden ``.partial-*`` folder, which the next prepare of that OUTDIR removes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
from numpy.lib.format import open_memmap

from progan.errors import DataError

FORMAT = "progan-dataset"
FORMAT_VERSION = 1
META_FILE = "dataset.json"
LABELS_FILE = "labels.npy"
SKIPPED_FILE = "skipped.txt"
CHUNK_BYTES = 64 << 20


def level_file(resolution: int) -> str:
    return f"level-{resolution:04d}.npy"


def level_resolutions(resolution: int) -> list[int]:
    """Full resolution down to 4: [R, R/2, ..., 4]."""
    out = []
    while resolution >= 4:
        out.append(resolution)
        resolution //= 2
    return out


def box_pyramid(full: np.ndarray) -> list[np.ndarray]:
    """uint8 [n, C, R, R] -> the lower levels [R/2, ..., 4] as uint8 (TF release arithmetic, see module doc)."""
    x = full.astype(np.float32)
    out = []
    while x.shape[-1] > 4:
        x = (x[..., 0::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) * np.float32(0.25)
        out.append(np.rint(x).clip(0, 255).astype(np.uint8))
    return out


def chunk_rows(n: int, row_bytes: int) -> range:
    return range(0, n, max(1, CHUNK_BYTES // max(1, row_bytes)))


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _is_ours(name: str) -> bool:
    return (name in (META_FILE, LABELS_FILE, SKIPPED_FILE) or name.startswith(".partial-")
            or (name.startswith("level-") and name.endswith(".npy")))


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def check_outdir(outdir: Path, force: bool) -> None:
    """Refuse a file, or a non-empty folder unless ``force`` (leftover ``.partial-*`` folders do not count)."""
    if outdir.exists() and not outdir.is_dir():
        raise DataError(f"output {outdir} exists and is not a folder")
    if outdir.is_dir() and not force:
        entries = [e for e in os.listdir(outdir) if not e.startswith(".partial-")]
        if entries:
            what = "a prepared data set" if META_FILE in entries else "not empty"
            raise DataError(f"output folder {outdir} is {what}; pass --force to replace it or choose a new folder")


class DatasetWriter:
    """Allocates the full-resolution level in a private temp folder inside OUTDIR, then commits atomically."""

    def __init__(self, outdir: str | os.PathLike[str], num_rows: int, channels: int, resolution: int,
                 force: bool = False) -> None:
        self.outdir = Path(outdir)
        check_outdir(self.outdir, force)
        self._created = not self.outdir.exists()
        self.outdir.mkdir(parents=True, exist_ok=True)
        for e in os.listdir(self.outdir):  # crashed earlier runs of this same OUTDIR
            if e.startswith(".partial-") and not _alive(e.rsplit("-", 1)[-1]):
                shutil.rmtree(self.outdir / e, ignore_errors=True)
        self.tmp = self.outdir / f".partial-{os.getpid()}"
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir()
        self.channels, self.resolution = channels, resolution
        self.full = open_memmap(self.tmp / level_file(resolution), mode="w+", dtype=np.uint8,
                                shape=(num_rows, channels, resolution, resolution))

    def abort(self) -> None:
        """Remove everything this writer created."""
        self.full = None  # type: ignore[assignment]
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self._created and self.outdir.is_dir() and not os.listdir(self.outdir):
            self.outdir.rmdir()

    def _compact(self, keep: np.ndarray) -> None:
        rows = np.flatnonzero(keep)
        name = self.tmp / level_file(self.resolution)
        dst = open_memmap(self.tmp / "compact.npy", mode="w+", dtype=np.uint8, shape=(len(rows),) + self.full.shape[1:])
        step = chunk_rows(len(rows), int(np.prod(dst.shape[1:]))).step
        for i in range(0, len(rows), step):
            dst[i:i + step] = self.full[rows[i:i + step]]
        dst.flush()
        del dst
        self.full = None  # type: ignore[assignment]
        os.replace(self.tmp / "compact.npy", name)
        self.full = np.load(name, mmap_mode="r+")

    def commit(self, *, keep: np.ndarray | None, labels: np.ndarray | None, class_names: list[str],
               skipped: list[tuple[str, str]], meta: dict[str, Any],
               progress: Callable[[int], None] | None = None) -> Path:
        """Compact out skipped rows, build the lower levels, write labels/skipped/metadata, move into OUTDIR."""
        if keep is not None and not keep.all():
            self._compact(keep)
            if labels is not None:
                labels = labels[keep]
        n = len(self.full)
        if n == 0:
            raise DataError("no image could be read from the source; see the reasons above or use --strict to "
                            "stop at the first bad file")
        resolutions = level_resolutions(self.resolution)
        lower = [open_memmap(self.tmp / level_file(r), mode="w+", dtype=np.uint8, shape=(n, self.channels, r, r))
                 for r in resolutions[1:]]
        step = chunk_rows(n, int(np.prod(self.full.shape[1:]))).step
        for i in range(0, n, step):
            for dst, level in zip(lower, box_pyramid(np.asarray(self.full[i:i + step]))):
                dst[i:i + step] = level
            if progress is not None:
                progress(min(step, n - i))
        self.full.flush()
        for dst in lower:
            dst.flush()
        del lower
        self.full = None  # type: ignore[assignment]

        files = [level_file(r) for r in resolutions]
        if labels is not None:
            np.save(self.tmp / LABELS_FILE, np.ascontiguousarray(labels, dtype=np.int64), allow_pickle=False)
            files.append(LABELS_FILE)
        with open(self.tmp / SKIPPED_FILE, "w", encoding="utf-8") as f:
            f.writelines(f"{name}\t{reason}\n" for name, reason in skipped)
        files.append(SKIPPED_FILE)

        sums = {name: sha256_file(self.tmp / name) for name in files if name.endswith(".npy")}
        doc = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "resolution": self.resolution,
            "channels": self.channels,
            "num_images": n,
            "num_classes": len(class_names) if labels is not None else 0,
            "class_names": list(class_names) if labels is not None else [],
            "levels": [{"resolution": r, "file": level_file(r), "shape": [n, self.channels, r, r],
                        "sha256": sums[level_file(r)]} for r in resolutions],
            "labels": {"file": LABELS_FILE, "sha256": sums[LABELS_FILE]} if labels is not None else None,
            "skipped": {"count": len(skipped), "file": SKIPPED_FILE},
            "downsampling": "2x2 box average in float32 carried across levels, np.rint per level (TF release)",
            **meta,
        }
        self._publish(files, doc)
        return self.outdir

    def _publish(self, files: list[str], doc: dict[str, Any]) -> None:
        old_meta = self.outdir / META_FILE
        if old_meta.exists():  # --force over an old data set: it stops being one before any file changes
            old_meta.unlink()
        for e in os.listdir(self.outdir):
            if _is_ours(e) and e not in files and not e.startswith(".partial-"):
                (self.outdir / e).unlink()
        for name in files:
            os.replace(self.tmp / name, self.outdir / name)
        with open(self.tmp / META_FILE, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
        os.replace(self.tmp / META_FILE, old_meta)
        shutil.rmtree(self.tmp, ignore_errors=True)
