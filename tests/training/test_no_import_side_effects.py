"""Importing and plotting leave the caller's matplotlib backend alone (a notebook user keeps theirs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_plots_do_not_switch_the_matplotlib_backend(tmp_path: Path) -> None:
    stats = tmp_path / "stats.jsonl"
    stats.write_text("".join(json.dumps({"kimg": k, "resolution": 4, "loss/D": 1.0 / (k + 1)}) + "\n"
                             for k in range(5)))
    code = f"""
import matplotlib
matplotlib.use("svg")
from progan.training.plot import plot_stats
from progan.sampling.truncation_sweep import plot_sweep
plot_stats(__import__("pathlib").Path({str(stats)!r}),
           __import__("pathlib").Path({str(tmp_path / "plot.png")!r}))
plot_sweep([{{"truncation": 0.5, "swd": 1.0}}, {{"truncation": None, "swd": 2.0}}],
           {str(tmp_path / "s.png")!r})
print(matplotlib.get_backend())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "svg"
    assert (tmp_path / "plot.png").stat().st_size > 0 and (tmp_path / "s.png").stat().st_size > 0
