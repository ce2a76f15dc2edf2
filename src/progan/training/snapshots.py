"""Finding snapshot files in run folders, without importing torch (the explorer lists them before loading it).

``network-snapshot-<kimg:06d>.safetensors``: see :mod:`progan.training.checkpoint` for their contents.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["SNAPSHOT_RE", "latest_checkpoint", "list_snapshots", "snapshot_kimg", "snapshot_name"]

SNAPSHOT_RE = re.compile(r"network-snapshot-(\d+)\.safetensors$")


def snapshot_name(nimg: int) -> str:
    return f"network-snapshot-{nimg // 1000:06d}.safetensors"


def snapshot_kimg(path: str | os.PathLike[str]) -> int | None:
    """The kimg in a snapshot's file name (``network-snapshot-000140.safetensors`` -> 140), else None."""
    m = SNAPSHOT_RE.search(Path(path).name)
    return int(m.group(1)) if m else None


def list_snapshots(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Snapshots of one run folder, oldest first."""
    found = []
    for p in Path(run_dir).glob("network-snapshot-*.safetensors"):
        m = SNAPSHOT_RE.search(p.name)
        if m:
            found.append((int(m.group(1)), p.stat().st_mtime, p))
    return [p for _, _, p in sorted(found)]


def latest_checkpoint(outdir: str | os.PathLike[str]) -> Path | None:
    """Newest snapshot in ``outdir`` or any run folder directly below it (by modification time)."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        return None
    candidates = list_snapshots(outdir)
    for sub in outdir.iterdir():
        if sub.is_dir():
            candidates.extend(list_snapshots(sub))
    if not candidates:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime)
