"""Numbered run folders (``00003-fashion-mnist-<data>``) and the resume target."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from progan.errors import CheckpointError
from progan.training.checkpoint import read_checkpoint
from progan.training.snapshots import latest_checkpoint

_RUN_RE = re.compile(r"^(\d{5})-")


def create_run_dir(outdir: str | os.PathLike[str], desc: str) -> Path:
    """A new folder ``<outdir>/<next number>-<desc>``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    numbers = [int(m.group(1)) for p in outdir.iterdir() if (m := _RUN_RE.match(p.name))]
    safe = re.sub(r"[^A-Za-z0-9_.+-]+", "-", desc).strip("-") or "run"
    run_dir = outdir / f"{max(numbers, default=-1) + 1:05d}-{safe}"
    run_dir.mkdir()
    return run_dir


def resolve_resume(resume: str, outdir: str | os.PathLike[str]) -> Path:
    """``latest`` -> newest snapshot under ``outdir``; a run folder -> its newest snapshot; else the file.

    A snapshot that only holds networks (``progan import``) cannot be continued: a one-line error.
    """
    path = _resume_target(resume, outdir)
    if path.suffix.lower() in (".pkl", ".pickle"):
        raise CheckpointError(f"--resume: {path} is a network pickle, not a progan training run: it holds no "
                              "training state to continue; start a new run from its weights with --init-from")
    if "imported_from" in read_checkpoint(path, prefixes=()).extra:
        raise CheckpointError(f"--resume: {path} was made by `progan import`: it holds networks but no "
                              "optimizer, schedule or random-generator state to continue; start a new run "
                              "from its weights with --init-from")
    return path


def _resume_target(resume: str, outdir: str | os.PathLike[str]) -> Path:
    if resume == "latest":
        found = latest_checkpoint(outdir)
        if found is None:
            raise CheckpointError(f"--resume latest: no checkpoint found under {outdir}")
        return found
    path = Path(resume)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise CheckpointError(f"--resume: no network-snapshot-*.safetensors in {path}")
        return found
    if not path.is_file():
        raise CheckpointError(f"--resume: {path} does not exist")
    return path


def write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
