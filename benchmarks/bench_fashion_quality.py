"""Quality of the CPU demo: the `fashion-mnist` preset for a fixed wall-clock budget, then SWD and MS-SSIM
against the real Fashion-MNIST test set (with the real-vs-real noise floor beside them).

    python benchmarks/bench_fashion_quality.py [--minutes 20] [--workdir /tmp/fmq] [--num 10000]
    python benchmarks/bench_fashion_quality.py --planned --minutes 20 --out fashion-quality-planned.json
    python benchmarks/bench_fashion_quality.py --extra=--precision=bf16 --extra=--set \
        --extra=compute.threads=1 --out fashion-quality-bf16.json

Without ``--planned`` the preset's kimg schedule runs until ``--max-minutes`` stops it; with it,
``progan train --minutes`` plans the schedule for the budget. Prints the metric table of the run's last
snapshot and writes ``benchmarks/results/<--out>`` with the kimg and wall seconds spent at each resolution
(fading in and stable); the final grid is the run's last ``fakes*.png``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FASHION = "/usr/share/datasets/fashion-mnist"


def progan(*args: str) -> None:
    print("$ progan " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "progan", *args], check=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--workdir", default="/tmp/progan-fashion-quality")
    ap.add_argument("--num", type=int, default=10000, help="images per metric (the test set has 10,000)")
    ap.add_argument("--extra", action="append", default=[],
                    help="one more `progan train` argument (repeatable), e.g. --extra=--precision=bf16")
    ap.add_argument("--planned", action="store_true", help="progan train --minutes instead of --max-minutes")
    ap.add_argument("--out", default="fashion-quality.json", help="file name under benchmarks/results/")
    args = ap.parse_args()
    work = Path(args.workdir)
    test = work / "fashion-test-32"
    if not (test / "dataset.json").exists():
        progan("prepare", FASHION, str(test), "--split", "test", "--quiet")
    runs = work / "runs"
    t0 = time.time()
    budget = "--minutes" if args.planned else "--max-minutes"
    progan("train", "--preset", "fashion-mnist", "--outdir", str(runs), budget, str(args.minutes),
           "--quiet", *args.extra)
    wall = time.time() - t0
    run = sorted(p for p in runs.iterdir() if p.is_dir())[-1]
    last = sorted(run.glob("network-snapshot-*.safetensors"))[-1]
    progan("metrics", "--network", str(last), "--data", str(test), "--metrics", "swd,msssim",
           "--num", str(args.num), "--real-vs-real")
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    metrics = [json.loads(line) for p in run.glob("metric-*.jsonl") for line in p.read_text().splitlines()]
    out = {"command": " ".join(["python", *sys.argv]), "minutes": args.minutes, "wall_seconds": wall,
           "run": str(run), "final_kimg": stats[-1]["kimg"], "final_resolution": stats[-1]["resolution"],
           "levels": _levels(stats), "metrics": metrics, "extra": args.extra}
    (HERE / "results").mkdir(exist_ok=True)
    dest = HERE / "results" / args.out
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{stats[-1]['kimg']:.1f} kimg in {wall / 60:.1f} min; grid: {sorted(run.glob('fakes*.png'))[-1]}; "
          f"wrote {dest}")


def _levels(stats: list[dict]) -> dict[str, dict[str, float]]:
    """kimg and training seconds per resolution and phase, from the ticks' rows (a tick is counted in
    the phase it ends in; ticks are short against a level)."""
    levels: dict[str, dict[str, float]] = {}
    prev_kimg = 0.0
    for row in stats:
        key = f"{row['resolution']}{'' if row['alpha'] >= 1.0 else ' fade-in'}"
        level = levels.setdefault(key, {"kimg": 0.0, "seconds": 0.0})
        level["kimg"] += row["kimg"] - prev_kimg
        level["seconds"] += row["sec_per_tick"]
        prev_kimg = row["kimg"]
    total = sum(v["seconds"] for v in levels.values())
    for v in levels.values():
        v["share_of_time"] = v["seconds"] / total if total else 0.0
    return levels


if __name__ == "__main__":
    main()
