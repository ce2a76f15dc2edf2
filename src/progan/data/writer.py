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
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from progan.data.format import (
    FORMAT,
    FORMAT_VERSION,
    LABELS_FILE,
    META_FILE,
    SKIPPED_FILE,
    level_file,
    sha256_file,
)
from progan.errors import DataError

CHUNK_BYTES = 64 << 20


def level_resolutions(resolution: int) -> list[int]:
    """Full resolution down to 4: [R, R/2, ..., 4]."""
    out = []
    while resolution >= 4:
        out.append(resolution)
        resolution //= 2
    return out


def box_pyramid(full: np.ndarray) -> list[np.ndarray]:
    """uint8 [n, C, R, R] -> the lower levels [R/2, ..., 4] as uint8, equal to the TF release's float32 math.

    Done in integers: block sums S_k over 2^k x 2^k pixels (exact), then round-half-to-even of S_k / 4^k,
    which is what ``np.rint`` of the (exact) float32 mean gives.
    """
    full = np.ascontiguousarray(full)
    n, c, r, _ = full.shape
    if r <= 4:
        return []
    pairs = full.view(np.uint16)  # two neighbouring pixels per element; their sum ignores byte order
    s = (pairs & np.uint16(0xFF)) + (pairs >> np.uint16(8))
    s = s[:, :, 0::2] + s[:, :, 1::2]
    out, k = [], 1
    while True:
        shift = np.uint32(2 * k) if s.dtype == np.uint32 else np.uint16(2 * k)
        one = s.dtype.type(1)
        half = s.dtype.type((1 << (2 * k - 1)) - 1)
        out.append(((s + half + ((s >> shift) & one)) >> shift).astype(np.uint8))
        if s.shape[-1] <= 4:
            return out
        if k == 3:  # 4^4 * 255 no longer fits in uint16
            s = s.astype(np.uint32)
        s = s[..., 0::2] + s[..., 1::2]
        s = s[:, :, 0::2] + s[:, :, 1::2]
        k += 1


def chunk_rows(n: int, row_bytes: int) -> range:
    return range(0, n, max(1, CHUNK_BYTES // max(1, row_bytes)))


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
    """Refuse a file, or a non-empty folder unless ``force`` (leftover ``.partial-*`` folders don't count)."""
    if outdir.exists() and not outdir.is_dir():
        raise DataError(f"output {outdir} exists and is not a folder")
    if outdir.is_dir() and not force:
        entries = [e for e in os.listdir(outdir) if not e.startswith(".partial-")]
        if entries:
            what = "a prepared data set" if META_FILE in entries else "not empty"
            raise DataError(f"output folder {outdir} is {what}; pass --force to replace it "
                            "or choose a new folder")


class NpyFile:
    """A uint8 ``.npy`` file written and read by rows with pwrite/pread.

    Plain file I/O instead of a writable memory map: filling a fresh file through a map costs a page fault
    per 4 KiB page and was the slowest part of preparing at 256x256.
    """

    def __init__(self, path: Path, shape: tuple[int, ...]) -> None:
        self.path, self.shape = path, shape
        self.row_bytes = int(np.prod(shape[1:]))
        self.header = npy_header(shape)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644)
        os.pwrite(self.fd, self.header, 0)
        os.ftruncate(self.fd, len(self.header) + shape[0] * self.row_bytes)

    def shrink(self, num_rows: int) -> None:
        """Keep the first ``num_rows`` rows: same-length header with the new shape, file truncated."""
        self.shape = (num_rows,) + self.shape[1:]
        self.header = npy_header(self.shape, len(self.header))
        os.pwrite(self.fd, self.header, 0)
        os.ftruncate(self.fd, len(self.header) + num_rows * self.row_bytes)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def write(self, rows: np.ndarray, images: np.ndarray) -> None:
        """``file[rows[i]] = images[i]``; runs of consecutive rows become one write."""
        flat = np.ascontiguousarray(images).reshape(len(images), self.row_bytes)
        for first, start, count in _runs(rows):
            _pwrite_all(self.fd, flat[first:first + count], len(self.header) + start * self.row_bytes)

    def read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows),) + self.shape[1:], np.uint8)
        flat = out.reshape(len(rows), self.row_bytes)
        for first, start, count in _runs(rows):
            _pread_all(self.fd, flat[first:first + count], len(self.header) + start * self.row_bytes)
        return out


def npy_header(shape: tuple[int, ...], length: int | None = None) -> bytes:
    """A version-1.0 ``.npy`` header for C-order uint8 ``shape``, space-padded to ``length`` bytes if given"""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False, "shape": shape})
    header = buf.getvalue()
    if length is not None and length != len(header):
        body = header[10:-1].rstrip(b" ")  # magic(6) + version(2) + uint16 length(2) ... b"\n"
        if 10 + len(body) + 1 > length:
            raise ValueError("npy header does not fit")
        header = header[:8] + (length - 10).to_bytes(2, "little") + body.ljust(length - 11) + b"\n"
    return header


def _runs(rows: np.ndarray) -> list[tuple[int, int, int]]:
    """(index into rows, first row, length) of each run of consecutive row numbers."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return []
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [len(rows)]])
    return [(int(a), int(rows[a]), int(b - a)) for a, b in zip(starts, ends)]


def _pwrite_all(fd: int, block: np.ndarray, offset: int) -> None:
    view = block.data.cast("B")
    while len(view):
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _pread_all(fd: int, block: np.ndarray, offset: int) -> None:
    view = block.data.cast("B")
    while len(view):
        n = os.preadv(fd, [view], offset) if hasattr(os, "preadv") else _pread_into(fd, view, offset)
        if n <= 0:
            raise DataError("unexpected end of file while reading a temporary array (disk full?)")
        view, offset = view[n:], offset + n


def _pread_into(fd: int, view: memoryview, offset: int) -> int:  # pragma: no cover - platforms without preadv
    data = os.pread(fd, len(view), offset)
    view[:len(data)] = data
    return len(data)


class DatasetWriter:
    """Collects the full-resolution level in a private temp folder inside OUTDIR, then commits atomically."""

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
        self.channels, self.resolution, self.num_rows = channels, resolution, num_rows
        self.full = NpyFile(self.tmp / "decoded.npy", (num_rows, channels, resolution, resolution))

    def write_rows(self, rows: np.ndarray, images: np.ndarray) -> None:
        """Store full-resolution images at rows (uint8 [k, C, R, R])."""
        self.full.write(rows, images)

    def abort(self) -> None:
        """Remove everything this writer created."""
        self.full.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self._created and self.outdir.is_dir() and not os.listdir(self.outdir):
            self.outdir.rmdir()

    def commit(self, *, keep: np.ndarray | None, labels: np.ndarray | None, class_names: list[str],
               skipped: list[tuple[str, str]], meta: dict[str, Any], grey: bool = False,
               progress: bool = False) -> Path:
        """Drop skipped rows, build every level in one pass (hashing as it goes), write labels, skipped.txt
        and metadata, and move it all into OUTDIR. ``grey``: the RGB rows are grey (R = G = B), keep one.
        """
        kept = np.flatnonzero(keep) if keep is not None else np.arange(self.num_rows)
        if labels is not None and keep is not None:
            labels = labels[keep]
        n = len(kept)
        if n == 0:
            raise DataError("no image could be read from the source; "
                            "use --strict to stop at the first bad file and see why")
        resolutions = level_resolutions(self.resolution)
        sums = self._write_levels(kept, resolutions, grey, progress)
        files = [level_file(r) for r in resolutions]
        if labels is not None:
            np.save(self.tmp / LABELS_FILE, np.ascontiguousarray(labels, dtype=np.int64), allow_pickle=False)
            sums[LABELS_FILE] = sha256_file(self.tmp / LABELS_FILE)
            files.append(LABELS_FILE)
        with open(self.tmp / SKIPPED_FILE, "w", encoding="utf-8") as f:
            f.writelines(f"{name}\t{reason}\n" for name, reason in skipped)
        files.append(SKIPPED_FILE)

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
            "downsampling": "2x2 box average, float32 carried across levels, np.rint per level (TF release)",
            **meta,
        }
        self._publish(files, doc)
        return self.outdir

    def _write_levels(self, kept: np.ndarray, resolutions: list[int], grey: bool,
                      progress: bool) -> dict[str, str]:
        """Every level of the ``kept`` rows in one pass over the decoded file; the sha256 of each level
        file."""
        n = len(kept)
        # The decoded file becomes the full level: compacted in place (row j <- kept[j] >= j, in increasing j,
        # never overwrites a row still to be read), so the largest level is written only once.
        full, compact = self.full, n < self.num_rows
        if grey:
            self.channels = 1
            res = self.resolution
            out_full = NpyFile(self.tmp / level_file(res), (n, 1, res, res))
            full_header = out_full.header
        else:
            out_full, full_header = full, npy_header((n,) + full.shape[1:], len(full.header))
        lower = [NpyFile(self.tmp / level_file(r), (n, self.channels, r, r)) for r in resolutions[1:]]
        hashes = [hashlib.sha256(h) for h in [full_header] + [lv.header for lv in lower]]
        step = chunk_rows(n, full.row_bytes).step
        bar = tqdm(total=n, unit="img", desc="levels", disable=not progress, leave=False, mininterval=0.5)
        try:
            for i in range(0, n, step):
                rows = np.arange(i, min(i + step, n))
                images = full.read(kept[rows])
                if grey:
                    images = np.ascontiguousarray(images[:, :1])
                if compact or grey:
                    out_full.write(rows, images)
                pyramid = box_pyramid(images)
                for lv, data in zip(lower, pyramid):
                    lv.write(rows, data)
                for h, data in zip(hashes, [images] + pyramid):
                    h.update(data.data.cast("B"))
                bar.update(len(rows))
            out_full.shrink(n)
        finally:
            bar.close()
            for lv in lower:
                lv.close()
            out_full.close()
            full.close()
        if grey:
            os.unlink(full.path)
        else:
            os.replace(full.path, self.tmp / level_file(self.resolution))
        return {level_file(r): h.hexdigest() for r, h in zip(resolutions, hashes)}

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
