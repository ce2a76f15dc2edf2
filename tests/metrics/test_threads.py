"""The per-core workers give the results of a plain loop, in order, and leave the caller's threads alone."""

from __future__ import annotations

import threading

import torch

from progan.metrics._threads import map_batches


def test_map_batches_keeps_order_and_the_callers_thread_count() -> None:
    outer = torch.get_num_threads()
    torch.set_num_threads(2)  # the metrics tests' fixture runs them on one thread
    try:
        _check_two_workers()
    finally:
        torch.set_num_threads(outer)


def _check_two_workers() -> None:
    seen: list[tuple[str, int]] = []

    def work(i: int) -> int:
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return int(torch.arange(i + 1).sum())

    assert map_batches(work, range(20), torch.device("cpu")) == [i * (i + 1) // 2 for i in range(20)]
    assert torch.get_num_threads() == 2
    assert all(n == 1 for _, n in seen)  # each worker runs its ops single-threaded, on a thread of its own
    assert all(name.startswith("progan-metric") for name, _ in seen)


def test_map_batches_runs_inline_for_one_thread_or_a_gpu_device() -> None:
    main = threading.current_thread().name
    names: list[str] = []
    assert map_batches(lambda i: names.append(threading.current_thread().name) or i, [1, 2],
                       torch.device("cuda")) == [1, 2]
    assert names == [main, main]
