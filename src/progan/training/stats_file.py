"""A run's ``stats.jsonl``, read and trimmed without importing torch (the explorer draws its curves
before torch is loaded). Written by :class:`progan.training.stats.Collector`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_stats(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``stats.jsonl``; a line cut short by a crash (``kill -9`` mid-write) is skipped."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def truncate_stats(path: Path, nimg: int) -> None:
    """On resume: drop rows written after the snapshot (they are trained again) and any torn line."""
    if not path.exists():
        return
    rows = [r for r in read_stats(path) if round(r.get("kimg", 0) * 1000) <= nimg]
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)
