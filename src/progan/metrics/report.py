"""Evaluate one snapshot or every snapshot of a run folder; print a table; append ``metric-<name>.jsonl``."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import progan
from progan.errors import UserError
from progan.metrics.registry import check_metric_names, evaluate
from progan.training.snapshots import list_snapshots, snapshot_kimg

__all__ = ["MetricsRun", "snapshots_of", "data_of_run", "run_metrics", "format_table", "flatten_results",
           "metric_label"]


def metric_label(metric: str, key: str) -> str:
    """The one name of a metric value everywhere (stats.jsonl, sweeps, tables): the metric itself for its
    headline value (``swd`` avg, ``fid``), else ``metric/key`` (``swd/16``, ``pr/recall``)."""
    return metric if key in (metric, "avg") else f"{metric}/{key}"


def flatten_results(results: dict[str, dict[str, float]], prefix: str = "") -> dict[str, float]:
    """``{"swd": {"32": 3.1, "avg": 2.9}}`` -> ``{prefix + "swd/32": 3.1, prefix + "swd": 2.9}``."""
    return {prefix + metric_label(name, key): float(value)
            for name, values in results.items() for key, value in values.items()}


@dataclass
class MetricsRun:
    """Everything ``progan metrics`` was asked to do, validated."""

    network: Path | None
    data: Path
    metrics: list[str]
    num_images: int = 10_000
    seed: int = 0
    device: str = "cpu"
    batch_size: int = 64
    truncation: float | None = None
    features_path: Path | None = None
    inception_weights: Path | None = None
    cache_dir: Path | None = None
    real_vs_real: bool = False
    snapshots: list[Path] = field(default_factory=list)


def snapshots_of(network: Path) -> list[Path]:
    """A snapshot file itself, or every snapshot of a run folder (oldest first)."""
    if network.is_file():
        return [network]
    found = list_snapshots(network)
    if not found:
        raise UserError(f"no network-snapshot-*.safetensors in {network}; "
                        "pass a snapshot file or a run folder")
    return found


def data_of_run(run_dir: Path) -> Path | None:
    """The data set a run was trained on, from its ``training_options.json`` (``run.data``)."""
    opts = run_dir / "training_options.json"
    if not opts.is_file():
        return None
    try:
        doc = json.loads(opts.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    run = doc.get("run") if isinstance(doc, dict) else None
    data = run.get("data") if isinstance(run, dict) else None
    return Path(data) if isinstance(data, str) and data else None


def _append_jsonl(path: Path, row: dict[str, Any]) -> None:
    # One write of one line per call: concurrent appenders do not interleave within a line.
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, allow_nan=True) + "\n")


def run_metrics(run: MetricsRun, echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Evaluate the reals against themselves (with ``real_vs_real``) and each snapshot; return the rows."""
    names = check_metric_names(run.metrics)
    # the noise floor first, then the snapshots beside it
    targets: list[Path | None] = ([None] if run.real_vs_real else []) + list(run.snapshots)
    rows = []
    for snap in targets:
        t0 = time.time()
        G = progan.load_generator(str(snap), device=run.device) if snap is not None else None
        results = evaluate(G, run.data, names, num_images=run.num_images, seed=run.seed, device=run.device,
                           batch_size=run.batch_size, truncation=run.truncation,
                           features_path=run.features_path,
                           inception_weights=run.inception_weights, cache_dir=run.cache_dir,
                           real_vs_real=snap is None)
        seconds = time.time() - t0
        out_dir = (None if run.network is None
                   else (run.network if run.network.is_dir() else run.network.parent))
        snapshot = "reals-vs-reals" if snap is None else snap.name
        for name, values in results.items():
            row = {
                "metric": name, "results": values,
                "snapshot": snapshot, "kimg": None if snap is None else snapshot_kimg(snap),
                "data": str(run.data), "num_images": run.num_images, "seed": run.seed,
                "truncation": run.truncation,
                "features": None if run.features_path is None else str(run.features_path),
                "real_vs_real": snap is None, "seconds": round(seconds, 3),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            rows.append(row)
            if out_dir is not None:
                _append_jsonl(out_dir / f"metric-{name}.jsonl", row)
        echo(format_table([r for r in rows if r["snapshot"] == snapshot]))
    return rows


def _fmt(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.5g}"  # significant digits: KID lives near 1e-3, FID near 10


def format_table(rows: list[dict[str, Any]]) -> str:
    """One line per metric value: snapshot, metric/key, value."""
    lines = [f"{'snapshot':<40} {'metric':<16} {'value':>12}"]
    for r in rows:
        for key, value in r["results"].items():
            label = metric_label(r["metric"], key)
            lines.append(f"{r['snapshot']:<40} {label:<16} {_fmt(value):>12}")
    return os.linesep.join(lines)
