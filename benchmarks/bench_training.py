"""The standard training-throughput matrix, measured by ``progan bench``.

128 feature maps at every resolution, latent 128, batch 64, WGAN-GP, 4x4 to 32x32, fp32 and bf16,
against the straightforward eager step and under ``--compile``, on one thread and on all
threads. Prints the tables and writes ``benchmarks/results/training-<threads>t.json``. Ratios are taken
within one run.

    python benchmarks/bench_training.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--threads", default="1,0", help="comma list; 0 = torch default")
    args = ap.parse_args()
    (HERE / "results").mkdir(exist_ok=True)
    for threads in [int(t) for t in args.threads.split(",")]:
        out = HERE / "results" / f"training-{threads or 'all'}t.json"
        cmd = [sys.executable, "-m", "progan", "bench", "--resolution", "32", "--fmaps", "128",
               "--latent", "128", "--batch", "64", "--precision", "fp32,bf16", "--baseline", "--compile",
               "--threads", str(threads), "--seconds", str(args.seconds), "--out", str(out)]
        print(f"$ {' '.join(cmd[1:])}", flush=True)
        subprocess.run(cmd, check=True)
        rows = json.loads(out.read_text())["rows"]
        key = {(r["resolution"], r["phase"], r["precision"], r["impl"]): r for r in rows}
        print("\nratios (same run):")
        for (res, phase, prec, impl), r in sorted(key.items()):
            if impl != "progan":
                continue
            base = key.get((res, phase, prec, "eager-baseline"))
            compiled = key.get((res, phase, prec, "progan-compile"))
            fp32 = key.get((res, phase, "fp32", "progan"))
            parts = [f"{res:>3} {phase:6} {prec}: {r['img_per_sec']:7.1f} img/s, "
                     f"{r['peak_fraction']:.2f} of peak"]
            if base:
                parts.append(f"x{r['img_per_sec'] / base['img_per_sec']:.2f} vs eager")
            if compiled:
                parts.append(f"--compile x{compiled['img_per_sec'] / r['img_per_sec']:.2f}")
            if prec != "fp32" and fp32:
                parts.append(f"x{r['img_per_sec'] / fp32['img_per_sec']:.2f} vs fp32")
            print("  " + ", ".join(parts))


if __name__ == "__main__":
    main()
