"""Truncation sweep: fidelity and variety of a generator against the truncation threshold.

BigGAN (Brock et al. 2019, Sec. 3.1, Fig. 2): drawing z from a normal truncated at a threshold
(values beyond it are redrawn) trades variety for fidelity; sweeping the threshold traces the
trade-off curve (IS vs FID there). Here any metrics of :func:`progan.metrics.evaluate` are computed
at each threshold (e.g. SWD + MS-SSIM, or classifier-feature FID + precision/recall, or the class
agreement ``cas`` of a conditional G), written as JSON and plotted against the threshold.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from progan.errors import UserError
from progan.metrics import evaluate
from progan.metrics.registry import check_metric_names
from progan.metrics.report import flatten_results
from progan.networks.standing_stats import accumulate_standing_stats

DEFAULT_THRESHOLDS: tuple[float | None, ...] = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, None)
# Which direction is better, for the plot's labels (SWD, FID, KID: lower; the rest: higher).
LOWER_IS_BETTER = frozenset({"swd", "fid", "kid", "msssim"})


def parse_thresholds(text: str) -> list[float | None]:
    """``"0.25,0.5,1,none"`` -> ``[0.25, 0.5, 1.0, None]`` (``none`` = no truncation); one-line errors."""
    out: list[float | None] = []
    for part in (p.strip().lower() for p in str(text).split(",")):
        if part in ("none", "off", "inf"):
            out.append(None)
            continue
        try:
            t = float(part)
        except ValueError:
            raise UserError(f"bad threshold {part!r} in {text!r}: "
                            "use positive numbers or 'none', like 0.5,1,2,none") from None
        if not t > 0 or math.isinf(t):
            raise UserError(f"truncation thresholds must be > 0 (or 'none'), got {part!r}")
        out.append(t)
    if not out:
        raise UserError("no truncation thresholds given; use a list like 0.5,1,2,none")
    return out


def truncation_sweep(
    G: torch.nn.Module,
    data_dir: str | os.PathLike[str],
    metrics: Sequence[str],
    *,
    thresholds: Sequence[float | None] = DEFAULT_THRESHOLDS,
    num_images: int = 2048,
    seed: int = 0,
    device: str | torch.device = "cpu",
    standing_stats: int = 0,                      # BN generators: standing-statistics batches per threshold
    evaluate_kwargs: dict[str, Any] | None = None,  # passed on: features_path, batch_size, cache_dir, ...
    echo: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """``[{"truncation": t, <metric>: value, ...}]`` for each threshold (None = plain normal latents).

    Every threshold uses the same seed, so the latents differ only by the redrawn entries. With
    ``standing_stats`` > 0, a copy of a batch-norm G gets its running statistics recomputed from that
    many batches drawn at the threshold (BigGAN-PyTorch's standing stats), so eval-mode samples match
    the latents they are drawn from.
    """
    names = check_metric_names(list(metrics))
    if not thresholds:
        raise UserError("no truncation thresholds given")
    points: list[dict[str, Any]] = []
    for t in thresholds:
        net = G
        if standing_stats > 0:
            net = copy.deepcopy(G)
            accumulate_standing_stats(net, num_batches=standing_stats, seed=seed, truncation=t)
        res = evaluate(net, data_dir, names, num_images=num_images, seed=seed, device=device, truncation=t,
                       **(evaluate_kwargs or {}))
        point: dict[str, Any] = {"truncation": t, **flatten_results(res)}
        points.append(point)
        if echo is not None:
            echo(f"truncation {'none' if t is None else f'{t:g}':>6}  "
                 + "  ".join(f"{k} {v:.4g}" for k, v in point.items() if k != "truncation"))
    return points


def write_sweep(points: list[dict[str, Any]], path: str | os.PathLike[str],
                meta: dict[str, Any] | None = None) -> Path:
    """JSON ``{"meta": ..., "points": [...]}`` (``truncation: null`` = untruncated); written atomically."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps({"meta": meta or {}, "points": points}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


def plot_sweep(points: list[dict[str, Any]], path: str | os.PathLike[str], title: str = "") -> Path:
    """One panel per value against the threshold (untruncated drawn at the right, marked 'none'), and,
    when precision and recall were measured, the precision/recall trade-off with thresholds annotated."""
    finite = [p["truncation"] for p in points if p["truncation"] is not None]
    x_none = (max(finite) * 1.25 if finite else 1.0)
    xs = [x_none if p["truncation"] is None else p["truncation"] for p in points]
    keys = [k for k in points[0] if k != "truncation" and not k.endswith("_std")]
    trade = "pr/precision" in keys and "pr/recall" in keys
    n = len(keys) + int(trade)
    fig = Figure(figsize=(3.6 * n, 3.2))  # its own Agg canvas: pyplot's backend is left alone
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n, squeeze=False)
    for ax, key in zip(axes[0], keys):
        ys = [p.get(key, math.nan) for p in points]
        ax.plot(xs, ys, "o-")
        ax.set_xlabel("truncation threshold")
        better = "lower" if key.split("/")[0] in LOWER_IS_BETTER else "higher"
        ax.set_ylabel(f"{key} ({better} is better)")
        ax.set_xticks(xs, ["none" if p["truncation"] is None else f"{p['truncation']:g}" for p in points],
                      rotation=45)
        ax.grid(alpha=0.3)
    if trade:
        ax = axes[0][-1]
        ax.plot([p["pr/recall"] for p in points], [p["pr/precision"] for p in points], "o-")
        for p in points:
            ax.annotate("none" if p["truncation"] is None else f"{p['truncation']:g}",
                        (p["pr/recall"], p["pr/precision"]),
                        fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("recall (variety)")
        ax.set_ylabel("precision (fidelity)")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out
