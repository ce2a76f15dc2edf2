"""A video of a run's ``fakes<kimg>.png`` grids in time order, each labelled with kimg and resolution,
as the result video of Karras et al. 2018 shows training progress."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from progan.errors import UserError
from progan.sampling._draw import label_above, to_rgb
from progan.sampling.video import VideoWriter, check_video_path

__all__ = ["FakesGrid", "fakes_of_run", "training_video"]

_FAKES = re.compile(r"^fakes(\d+)\.png$")


@dataclass
class FakesGrid:
    kimg: int
    path: Path
    resolution: int | None   # working resolution at that time, from stats.jsonl
    fading: bool             # a new resolution was fading in (fractional lod)

    @property
    def label(self) -> str:
        text = f"{self.kimg} kimg"
        if self.resolution:
            text += f"  {self.resolution}x{self.resolution}" + (" (fade-in)" if self.fading else "")
        return text


def _stats_rows(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "stats.jsonl"
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash
            if isinstance(row, dict) and "kimg" in row:
                rows.append(row)
    return rows


def fakes_of_run(run_dir: str | os.PathLike[str]) -> list[FakesGrid]:
    """The run's fakes grids, oldest first, each with the resolution of the nearest ``stats.jsonl`` tick."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run folder {run_dir} does not exist")
    found = sorted((int(m.group(1)), p) for p in run_dir.iterdir() if (m := _FAKES.match(p.name)))
    if not found:
        raise UserError(f"no fakes<kimg>.png grids in {run_dir}: is it a progan run folder?")
    rows = _stats_rows(run_dir)
    grids = []
    for kimg, path in found:
        row = min(rows, key=lambda r: abs(float(r["kimg"]) - kimg), default=None)
        res = int(row["resolution"]) if row and "resolution" in row else None
        lod = float(row.get("lod", 0.0)) if row else 0.0
        grids.append(FakesGrid(kimg, path, res, fading=lod != int(lod)))
    return grids


def _even(n: int) -> int:
    return n + n % 2


def training_video(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    fps: float = 10.0,
    band_height: int | None = None,
    progress: bool = True,
) -> Path:
    """Write the labelled fakes grids of ``run_dir`` to ``out`` (.mp4 or .gif); every frame has the size
    of the largest grid (smaller ones are scaled up, nearest neighbour) plus a text band on top."""
    path = check_video_path(out)
    grids = fakes_of_run(run_dir)
    sizes = []
    for g in grids:
        with Image.open(g.path) as grid:
            sizes.append(grid.size)
    width, height = _even(max(s[0] for s in sizes)), _even(max(s[1] for s in sizes))
    band = _even(band_height or max(16, min(48, width // 16)))
    with VideoWriter(path, fps) as writer:
        for g in tqdm(grids, unit="frame", desc="training-video", disable=not progress):
            with Image.open(g.path) as grid:
                im = grid.convert("RGB")
                if im.size != (width, height):
                    im = im.resize((width, height), Image.Resampling.NEAREST)
                frame = to_rgb(np.asarray(im))
            writer.append(label_above(frame, g.label, band))
    return path
