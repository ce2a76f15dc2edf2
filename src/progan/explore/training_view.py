"""The training view's data: curves from ``stats.jsonl`` and ``metric-*.jsonl`` as long tables
(one row per kimg, value and series), and a one-line summary of the newest tick.

Rows are read with :func:`progan.training.stats_file.read_stats` (no torch), which skips a line cut short
by a run that is writing it at that moment.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]

from progan.training.stats_file import read_stats

__all__ = ["CURVES", "curves", "fingerprint", "summary"]

# Plot title -> the stats.jsonl keys drawn in it (a prefix ending in "/" takes every key under it).
CURVES: dict[str, tuple[str, ...]] = {
    "Losses": ("loss/", "scores/"),
    "Images per second": ("img_per_sec",),
    "Level of detail (lod)": ("lod",),
    "Metrics": ("metric/",),
}
_COLUMNS = ["kimg", "value", "series"]


def _rows(path: Path) -> list[dict[str, Any]]:
    return read_stats(path)


def fingerprint(files: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """Changes whenever one of ``files`` is written: their names, sizes and modification times."""
    out = []
    for p in files:
        try:
            st = p.stat()
        except OSError:
            continue
        out.append((p.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _metric_rows(path: Path) -> list[tuple[float, float, str]]:
    """(kimg, value, "metric[/key]") from ``progan metrics``' JSON lines; the reals-vs-reals floor (no kimg)
    is left out."""
    rows = []
    for r in _rows(path):
        kimg, results, name = _number(r.get("kimg")), r.get("results"), str(r.get("metric", path.stem[7:]))
        if kimg is None or not isinstance(results, dict):
            continue
        for key, value in results.items():
            v = _number(value)
            if v is not None:
                rows.append((kimg, v, name if key in (name, "avg") else f"{name}/{key}"))
    return rows


def curves(run_dir: Path | None) -> dict[str, pd.DataFrame]:
    """One long table (``kimg``, ``value``, ``series``) per plot of :data:`CURVES`; empty tables when the
    run has no logs yet."""
    tables: dict[str, list[tuple[float, float, str]]] = {title: [] for title in CURVES}
    stats = run_dir / "stats.jsonl" if run_dir is not None else None
    for row in _rows(stats) if stats is not None and stats.is_file() else []:
        kimg = _number(row.get("kimg"))
        if kimg is None:
            continue
        for key, value in row.items():
            v = _number(value)
            if v is None:
                continue
            for title, keys in CURVES.items():
                if any(key == k or (k.endswith("/") and key.startswith(k)) for k in keys):
                    tables[title].append((kimg, v, key))
    if run_dir is not None:
        for path in sorted(run_dir.glob("metric-*.jsonl")):
            tables["Metrics"].extend(_metric_rows(path))
    return {title: pd.DataFrame(rows, columns=_COLUMNS) for title, rows in tables.items()}


def summary(run_dir: Path | None) -> str:
    """Markdown: the newest tick's kimg, resolution, lod and speed."""
    if run_dir is None:
        return "PATH is a single network file: there is no training run to show."
    stats = run_dir / "stats.jsonl"
    rows = _rows(stats) if stats.is_file() else []
    if not rows:
        return f"`{run_dir.name}`: no tick logged yet."
    last = rows[-1]
    parts = [f"tick {last.get('tick', len(rows))}", f"{last.get('kimg', 0):g} kimg"]
    if "resolution" in last:
        parts.append(f"{last['resolution']}x{last['resolution']}")
    if _number(last.get("lod")) is not None:
        parts.append(f"lod {last['lod']:.2f}")
    if _number(last.get("img_per_sec")) is not None:
        parts.append(f"{last['img_per_sec']:.0f} img/s")
    return f"`{run_dir.name}`: " + ", ".join(parts)
