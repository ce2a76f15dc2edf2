"""Run independent batches of small CPU tensor work on one single-threaded worker per core.

Filters over cache-sized image batches are a few hundred microseconds per op; splitting each op across
torch's intra-op threads costs more in synchronisation than it gains (benchmarks/bench_metrics.py has
the MS-SSIM and SWD timings).
torch releases the GIL inside ops, and ``torch.set_num_threads`` called in a worker thread only
changes that thread's OpenMP setting, so the caller's thread count is left as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")


def map_batches(fn: Callable[[T], R], items: Iterable[T], device: torch.device) -> list[R]:
    """``[fn(item) for item in items]`` in order; on CPU spread over ``torch.get_num_threads()`` workers."""
    items = list(items)
    workers = min(torch.get_num_threads(), len(items)) if device.type == "cpu" else 1
    if workers <= 1:
        return [fn(item) for item in items]

    def init() -> None:
        torch.set_num_threads(1)

    caller = torch.get_num_threads()
    try:
        with ThreadPoolExecutor(workers, initializer=init, thread_name_prefix="progan-metric") as pool:
            return list(pool.map(fn, items))
    finally:
        if torch.get_num_threads() != caller:  # a build whose thread setting is process-wide
            torch.set_num_threads(caller)
