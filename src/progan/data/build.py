"""``progan prepare``: any supported source -> a multi-resolution data set folder (:mod:`progan.data.writer`).

Follows the TF release's ``dataset_tool.py`` (Karras et al. 2018): images are stored in a fixed shuffled
order, ``np.random.RandomState(shuffle_seed).permutation(N)`` over the source's items in their natural
order (sorted paths, idx/CIFAR file order, LMDB key order) — with seed 123 this is the release's
``choose_shuffled_order`` — and every level down to 4x4 is precomputed.

``max_images`` keeps the first M items of that permutation (a seeded random subset; the release's LSUN
tool took the first M keys instead). Unreadable files among them are skipped, not replaced.
Resolution defaults to the native size of array sources (MNIST 32 after padding, CIFAR 32), 128 for
CelebA, and otherwise the largest power of two (<= 1024) that no image needs upscaling for.
"""

from __future__ import annotations

import datetime
import os
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from progan.data.decode import GRAY_MODES, TRANSFORMS, base_side
from progan.data.sources import ArraySource, FileSource, detect
from progan.data.workers import DecodeJob, chunk_size, decode_chunk, default_workers, probe_chunk, run_chunks
from progan.data.writer import DatasetWriter, box_pyramid, check_outdir, chunk_rows, level_resolutions
from progan.errors import DataError, UserError

SPLITS = ("train", "test", "all")
MAX_RESOLUTION = 1024


def _is_pow2(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def validate_options(resolution: int | None, channels: int | None, transform: str, split: str,
                     max_images: int | None, shuffle_seed: int, workers: int | None) -> None:
    if resolution is not None and not (_is_pow2(resolution) and 4 <= resolution <= MAX_RESOLUTION):
        raise UserError(f"--resolution must be a power of two from 4 to {MAX_RESOLUTION}, got {resolution}")
    if channels not in (None, 1, 3):
        raise UserError(f"--channels must be 1 or 3, got {channels}")
    if transform not in TRANSFORMS:
        raise UserError(f"--transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
    if split not in SPLITS:
        raise UserError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if max_images is not None and max_images < 1:
        raise UserError(f"--max-images must be >= 1, got {max_images}")
    if not 0 <= shuffle_seed < 2**32:
        raise UserError(f"--shuffle-seed must be in 0..2**32-1, got {shuffle_seed}")
    if workers is not None and workers < 0:
        raise UserError(f"--workers must be >= 0 (0 = decode in this process), got {workers}")


def shuffled_selection(num_items: int, seed: int, max_images: int | None) -> np.ndarray:
    """Item index stored at each output row (TF release order, then the first ``max_images``)."""
    order = np.random.RandomState(seed).permutation(num_items)
    return order[:max_images] if max_images is not None else order


def luma(rgb: np.ndarray) -> np.ndarray:
    """uint8 [n, 3, H, W] -> [n, 1, H, W]: Pillow's integer ITU-R 601-2 luma, as ``convert("L")``."""
    r, g, b = (rgb[:, i].astype(np.uint32) for i in range(3))
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)[:, None]


def _resize_array(images: np.ndarray, resolution: int) -> np.ndarray:
    native = images.shape[-1]
    if resolution == native:
        return images
    if resolution < native:  # power-of-two ratio: the same box arithmetic as the lower levels
        return box_pyramid(images)[level_resolutions(native).index(resolution) - 1]
    mode = "L" if images.shape[1] == 1 else "RGB"
    out = np.empty(images.shape[:2] + (resolution, resolution), np.uint8)
    for i, img in enumerate(images):
        pil = Image.fromarray(img[0] if mode == "L" else img.transpose(1, 2, 0), mode)
        arr = np.asarray(pil.resize((resolution, resolution), Image.Resampling.LANCZOS))
        out[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return out


def _convert_array(images: np.ndarray, channels: int, resolution: int) -> np.ndarray:
    if images.shape[1] == 3 and channels == 1:
        images = luma(images)
    elif images.shape[1] == 1 and channels == 3:
        images = np.repeat(images, 3, axis=1)
    return _resize_array(images, resolution)


def _progress_bar(total: int, enabled: bool, desc: str) -> Any:
    return tqdm(total=total, unit="img", desc=desc, disable=not enabled, mininterval=0.5, leave=False,
                dynamic_ncols=True)


def prepare(source: str | os.PathLike[str], outdir: str | os.PathLike[str], *, resolution: int | None = None,
            channels: int | None = None, transform: str = "center-crop", split: str = "train",
            max_images: int | None = None, shuffle_seed: int = 123, labels: bool = True, strict: bool = False,
            workers: int | None = None, force: bool = False, progress: bool = True) -> Path:
    """Prepare ``source`` into the data set folder ``outdir`` and return it (``progan prepare``).

    Raises :class:`progan.errors.UserError` for bad options and :class:`progan.errors.DataError` for an
    unusable source, an occupied ``outdir`` (without ``force``) or, with ``strict``, the first bad file.
    """
    validate_options(resolution, channels, transform, split, max_images, shuffle_seed, workers)
    out = Path(outdir)
    check_outdir(out, force)
    src = detect(source, split)
    try:
        if out.resolve() == Path(source).resolve():
            raise DataError(f"output folder {out} is the source itself; choose another OUTDIR")
    except OSError:
        pass
    n_workers = default_workers() if workers is None else workers
    sel = shuffled_selection(len(src.refs) if isinstance(src, FileSource) else len(src.images), shuffle_seed,
                             max_images)
    meta: dict[str, Any] = {
        "source": {"kind": src.kind, "path": str(Path(source).resolve()), "description": src.description,
                   "split": split if src.kind in ("idx", "cifar") else None},
        "options": {"transform": transform, "shuffle_seed": shuffle_seed, "max_images": max_images,
                    "labels": labels, "strict": strict},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "progan_version": _version(),
    }
    if isinstance(src, ArraySource):
        return _prepare_array(src, out, sel, resolution, channels, labels, force, meta)
    return _prepare_files(src, out, sel, resolution, channels, transform, labels, strict, n_workers, force,
                          progress, meta)


def _version() -> str:
    try:
        return metadata.version("progan")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _prepare_array(src: ArraySource, out: Path, sel: np.ndarray, resolution: int | None, channels: int | None,
                   labels: bool, force: bool, meta: dict[str, Any]) -> Path:
    res = resolution or src.images.shape[-1]
    ch = channels or src.images.shape[1]
    writer = DatasetWriter(out, len(sel), ch, res, force)
    try:
        step = chunk_rows(len(sel), ch * res * res).step
        for i in range(0, len(sel), step):
            rows = sel[i:i + step]
            writer.write_rows(np.arange(i, i + len(rows)), _convert_array(src.images[rows], ch, res))
        lab = src.labels[sel] if labels and src.labels is not None else None
        return writer.commit(keep=None, labels=lab, class_names=src.class_names, skipped=[],
                             meta={**meta, "ignored_files": 0})
    except BaseException:
        writer.abort()
        raise


def _strict_error(name: str, reason: str) -> DataError:
    return DataError(f"cannot read {name}: {reason} "
                     "(without --strict such files are skipped and listed in skipped.txt)")


def _unreadable(src: FileSource, sel: np.ndarray, skipped: dict[int, str]) -> DataError:
    row, reason = min(skipped.items())
    return DataError(f"none of the {len(sel)} images in {src.path} could be read "
                     f"(e.g. {src.names[sel[row]]}: {reason})")


def _probe(src: FileSource, sel: np.ndarray, workers: int, strict: bool, transform: str,
           skipped: dict[int, str]) -> tuple[int, int, str]:
    """Default resolution and channels from the image headers; returns (resolution, channels, why)."""
    found: dict[int, tuple[int, int, str]] = {}

    def collect(result: list[tuple[int, Any]]) -> None:
        for row, info in result:
            if isinstance(info, str):
                if strict:
                    raise _strict_error(src.names[sel[row]], info)
                skipped[row] = info
            else:
                found[row] = info

    step = chunk_size(len(sel), workers, 64)
    tasks = ((src.reader, [src.refs[j] for j in sel[i:i + step]], np.arange(i, min(i + step, len(sel))))
             for i in range(0, len(sel), step))
    run_chunks(probe_chunk, tasks, workers, len(sel), collect)
    if not found:
        raise _unreadable(src, sel, skipped)
    row, (w, h, _) = min(found.items(), key=lambda kv: base_side(kv[1][0], kv[1][1], transform))
    side = base_side(w, h, transform)
    if side < 4:
        raise DataError(f"{src.names[sel[row]]} is only {w}x{h}; pass --resolution to upscale small images")
    res = min(MAX_RESOLUTION, 1 << (side.bit_length() - 1))
    ch = 1 if all(mode in GRAY_MODES for _, _, mode in found.values()) else 3
    why = f"largest power of two not above the smallest image, {src.names[sel[row]]} ({w}x{h}, {transform})"
    return res, ch, why


def _prepare_files(src: FileSource, out: Path, sel: np.ndarray, resolution: int | None, channels: int | None,
                   transform: str, labels: bool, strict: bool, workers: int, force: bool, progress: bool,
                   meta: dict[str, Any]) -> Path:
    skipped: dict[int, str] = {}
    res, ch = resolution or src.resolution, channels or src.channels
    if res is None:  # the headers decide resolution (and channels); otherwise no extra pass over the files
        res, probed_ch, meta["resolution_chosen_as"] = _probe(src, sel, workers, strict, transform, skipped)
        ch = ch or probed_ch
    # channels unknown: decode as RGB and keep one channel at the end if every file turned out greyscale
    writer = DatasetWriter(out, len(sel), ch or 3, res, force)
    try:
        keep = np.ones(len(sel), bool)
        grey = np.ones(len(sel), bool)
        for row in skipped:
            keep[row] = False
        todo = np.flatnonzero(keep)
        bar = _progress_bar(len(todo), progress, "decoding")

        def collect(result: tuple[np.ndarray, np.ndarray, list[tuple[int, str]], np.ndarray]) -> None:
            rows, images, errors, grey_files = result
            writer.write_rows(rows, images)
            grey[rows] = grey_files
            for row, reason in errors:
                if strict:
                    raise _strict_error(src.names[sel[row]], reason)
                keep[row] = False
                skipped[row] = reason
            bar.update(len(rows))

        job = DecodeJob(src.reader, res, ch or 3, transform, src.crop)
        step = chunk_size(len(todo), workers, (ch or 3) * res * res)
        tasks = ((job, [src.refs[sel[r]] for r in todo[i:i + step]], todo[i:i + step])
                 for i in range(0, len(todo), step))
        try:
            run_chunks(decode_chunk, tasks, workers, len(todo), collect)
        finally:
            bar.close()
        if not keep.any():
            raise _unreadable(src, sel, skipped)
        lab = src.labels[sel] if labels and src.labels is not None else None
        report = sorted((src.names[sel[row]], reason) for row, reason in skipped.items())
        return writer.commit(keep=keep, labels=lab, class_names=src.class_names, skipped=report,
                             grey=ch is None and bool(grey[keep].all()), progress=progress,
                             meta={**meta, "ignored_files": src.ignored})
    except BaseException:
        writer.abort()
        raise
