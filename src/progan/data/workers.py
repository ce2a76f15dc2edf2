"""Parallel decoding of file sources in worker processes, in chunks, with a bounded number in flight.

Workers only import numpy and Pillow (this module and :mod:`progan.data.decode`), never torch.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from progan.data.decode import decode, error_text, probe
from progan.data.source_types import Reader

IN_PROCESS_BELOW = 256        # items; a pool costs more than it saves for tiny sources
CHUNK_BYTES = 16 << 20


def default_workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


@dataclass(frozen=True)
class DecodeJob:
    reader: Reader
    resolution: int
    channels: int
    transform: str
    crop: tuple[int, int, int, int] | None = None


ChunkResult = tuple[np.ndarray, np.ndarray, list[tuple[int, str]], np.ndarray]


def decode_chunk(job: DecodeJob, refs: Sequence[Any], rows: np.ndarray) -> ChunkResult:
    """Decode ``refs`` into uint8 [k, C, R, R]; returns (rows, images, [(row, reason) for failures],
    greyscale-file flags)."""
    out = np.zeros((len(refs), job.channels, job.resolution, job.resolution), np.uint8)
    grey = np.zeros(len(refs), bool)
    errors: list[tuple[int, str]] = []
    with job.reader as reader:
        for i, ref in enumerate(refs):
            try:
                data = reader.read(ref)
                out[i], grey[i] = decode(data, job.resolution, job.channels, job.transform, job.crop)
            except Exception as e:  # any failure of one file is that file's problem: report, go on
                errors.append((int(rows[i]), error_text(e)))
    return rows, out, errors, grey


def probe_chunk(reader: Reader, refs: Sequence[Any], rows: np.ndarray) -> list[tuple[int, Any]]:
    """[(row, (width, height, mode)) or (row, "reason")] from image headers."""
    out: list[tuple[int, Any]] = []
    with reader as r:
        for row, ref in zip(rows, refs):
            try:
                out.append((int(row), probe(r.read(ref))))
            except Exception as e:
                out.append((int(row), error_text(e)))
    return out


def chunk_size(num_items: int, workers: int, item_bytes: int) -> int:
    by_memory = max(1, CHUNK_BYTES // max(1, item_bytes))
    by_balance = max(1, num_items // max(1, 8 * workers))  # enough chunks to keep every worker busy
    return max(1, min(by_memory, by_balance, 512))


def run_chunks(fn: Callable[..., Any], tasks: Iterable[tuple[Any, ...]], workers: int, num_items: int,
               on_result: Callable[[Any], None]) -> None:
    """Call ``fn(*task)`` for every task, in worker processes when worthwhile; results go to ``on_result``
    in completion order. At most ``2 * workers`` tasks are in flight, so memory stays bounded."""
    if workers <= 1 or num_items < IN_PROCESS_BELOW:
        for task in tasks:
            on_result(fn(*task))
        return
    # fork starts fast; the children run only numpy/Pillow code, so a torch set up in the parent is harmless.
    ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: set[Future[Any]] = set()
        try:
            for task in tasks:
                pending.add(pool.submit(fn, *task))
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        on_result(f.result())
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    on_result(f.result())
        except BaseException:
            for f in pending:
                f.cancel()
            raise
