"""Telemetry: any code reports named values; one collector writes them at each tick.

The console line, ``stats.jsonl`` and TensorBoard are all written from the same
dictionary, so they never disagree (the ``training_stats`` idea of stylegan2-ada).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from progan.training.stats_file import read_stats, truncate_stats

__all__ = ["Collector", "read_stats", "truncate_stats"]


class Collector:
    """Accumulates means of reported values between ticks."""

    def __init__(self, run_dir: Path | None, *, tensorboard: bool = True, distributed: bool = False) -> None:
        self._distributed = distributed
        self._sums: dict[str, torch.Tensor | float] = {}
        self._counts: dict[str, int] = {}
        self._jsonl = open(run_dir / "stats.jsonl", "a", encoding="utf-8") if run_dir else None
        self._tb = None
        if run_dir is not None and tensorboard:
            try:
                # guarded: a broken tensorboard install must not stop training (see except)
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(run_dir))
            except ImportError:  # tensorboard is a dependency, but a broken install must not stop training
                self._tb = None

    def report(self, name: str, value: torch.Tensor | float) -> None:
        """Add one observation; tensors stay on their device until the tick (no per-step sync)."""
        if isinstance(value, torch.Tensor):
            value = value.detach().float().mean()
        self._sums[name] = self._sums.get(name, 0.0) + value
        self._counts[name] = self._counts.get(name, 0) + 1

    def tick(self, fixed: dict[str, Any], step: int) -> dict[str, Any]:
        """Means of everything reported since the last tick, merged with ``fixed``; written out and reset."""
        row: dict[str, Any] = dict(fixed)
        names = sorted(self._sums)
        if names:
            sums = torch.stack([torch.as_tensor(self._sums[k], dtype=torch.float64).cpu() for k in names])
            counts = torch.tensor([float(self._counts[k]) for k in names], dtype=torch.float64)
            if self._distributed:
                # Every rank reaches each tick at the same image count; the logged means cover all ranks.
                import torch.distributed as dist

                both = torch.cat([sums, counts])
                if dist.get_backend() == "nccl":
                    both = both.cuda()
                dist.all_reduce(both)
                sums, counts = both[: len(names)].cpu(), both[len(names):].cpu()
            for name, total, count in zip(names, sums.tolist(), counts.tolist()):
                row[name] = total / count
        self._sums.clear()
        self._counts.clear()
        if self._jsonl is not None:
            self._jsonl.write(json.dumps(row) + "\n")
            self._jsonl.flush()
            os.fsync(self._jsonl.fileno())
        if self._tb is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._tb.add_scalar(key, value, global_step=step)
            self._tb.flush()
        return row

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
        if self._tb is not None:
            self._tb.close()
