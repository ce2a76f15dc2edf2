"""The end-of-tick report: one dict of numbers becomes the stats row, the console / log line and the
progress bar's text, so they never disagree."""

from __future__ import annotations

import logging
import resource
from typing import Any

import torch
from tqdm import tqdm

from progan.training.schedule import Phase
from progan.training.state import Progress

log = logging.getLogger("progan.train")


def peak_memory_gb(device: torch.device) -> float:
    """Peak memory of this process so far: CUDA allocations, or the resident set size on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def tick_row(st: Progress, ph: Phase, tick_time: float, device: torch.device) -> dict[str, Any]:
    """The schedule, speed and health numbers of the tick that just ended (the collector adds the losses)."""
    imgs = st.nimg - st.tick_start_nimg
    return {
        "tick": st.tick, "kimg": st.nimg / 1000, "lod": ph.lod, "resolution": ph.resolution,
        "alpha": ph.alpha, "minibatch": ph.minibatch, "img_per_sec": imgs / max(tick_time, 1e-9),
        "sec_per_kimg": tick_time / max(imgs / 1000, 1e-9), "sec_per_tick": tick_time,
        "skipped_steps": st.skipped, "mem_peak_gb": peak_memory_gb(device),
    }


def tick_line(row: dict[str, Any]) -> str:
    """``tick 12 kimg 48.0 lod 2.00 res 8 mb 32 310.2 img/s D -1.234 G +2.345  swd 12.3`` from a stats row."""
    nan = float("nan")
    augment = (f"  p {row['augment/p']:.3f} rt {row.get('scores/real_sign', nan):+.3f}"
               if "augment/p" in row else "")
    return (f"tick {row['tick']:<4d} kimg {row['kimg']:<8.1f} lod {row['lod']:<5.2f} "
            f"res {row['resolution']:<4d} mb {row['minibatch']:<4d} {row['img_per_sec']:7.1f} img/s  "
            f"D {row.get('loss/D', nan):+.3f} G {row.get('loss/G', nan):+.3f}" + augment
            + "".join(f"  {k[len('metric/'):]} {v:.4g}" for k, v in row.items() if k.startswith("metric/")))


class ProgressBar:
    """A kimg progress bar (rank 0, interactive runs only) that also prints each tick's line above itself.

    Its time to go is the schedule's (:func:`progan.training.budget.remaining_seconds`: each level's remaining
    kimg at that level's speed), not the current rate times the remaining kimg, which a growing run's
    fast early levels make far too optimistic."""

    def __init__(self, total_nimg: int, start_nimg: int, enabled: bool) -> None:
        self._bar = tqdm(total=round(total_nimg / 1000, 3), initial=round(start_nimg / 1000, 3), unit="kimg",
                         disable=not enabled, dynamic_ncols=True,
                         bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} kimg [{elapsed}{postfix}]")
        self._enabled = enabled

    def advance(self, nimg: int) -> None:
        self._bar.update(nimg / 1000)

    def set_total(self, total_nimg: int) -> None:
        self._bar.total = round(total_nimg / 1000, 3)
        self._bar.refresh()

    def tick(self, row: dict[str, Any], line: str, eta_seconds: float | None = None) -> None:
        eta = "" if eta_seconds is None else f", eta {int(eta_seconds) // 60}:{int(eta_seconds) % 60:02d}"
        self._bar.set_postfix_str(f"{eta}, {row['resolution']}px a={row['alpha']:.2f}, "
                                  f"{row['img_per_sec']:.0f} img/s")
        if self._enabled:
            self._bar.write(line)

    def close(self) -> None:
        self._bar.close()
