"""Quality benchmark: class-conditional Fashion-MNIST 32x32 with the biggan-fashion-mnist preset,
trained for a fixed wall-clock budget on this machine (20 minutes by default).

Reported: the share of generated samples that a classifier trained on the real images assigns to the
conditioning class (metric ``cas``; aim > 80%), classifier-feature FID and precision/recall, and the
fidelity/variety curve over truncation thresholds (BigGAN's truncation trick), with and without
standing BN statistics. The classifier's own accuracy on held-out reals is the ceiling of ``cas``.

The budget is met with the ordinary loop: a short first leg measures the img/s, then the run is resumed
(exactly) with ``total_kimg`` set so that it ends at the budget. The machine may be shared with other
jobs: img/s and kimg reached depend on the load (the load average is recorded).

    python benchmarks/bench_biggan_fashion.py [--minutes 20] [--out benchmarks/bench_biggan_fashion.json]
        [--workdir DIR] [--num 2000] [--threads 1] [--classifier-images 20000] [--set section.field=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

FIRST_LEG_KIMG = 2.0
THRESHOLDS = "0.25,0.5,1,1.5,2,none"


def _classifier(data: Path, workdir: Path, num: int) -> tuple[Path, float]:
    """The judge: progan's offline classifier on ``num`` seeded real images (all 60k take ~30 min on a busy
    2-core CPU); its held-out accuracy is printed and saved."""
    import numpy as np

    from progan.data.dataset import open_dataset
    from progan.metrics.classifier import load_classifier, train_classifier

    path = workdir / f"classifier-fashion32-{num}.safetensors"
    if not path.exists():
        ds = open_dataset(data)
        idx = np.sort(np.random.default_rng(0).permutation(len(ds))[:num])
        res = train_classifier(ds.images(ds.resolution)[idx], np.asarray(ds.labels)[idx], path,
                               class_names=ds.class_names, epochs=3, source=str(data))
        return path, res.test_accuracy
    _, meta, _ = load_classifier(path)
    return path, float(meta.get("test_accuracy", float("nan")))


def _train(data: Path, workdir: Path, minutes: float, threads: int,
           overrides: list[str]) -> tuple[Path, dict]:
    from progan.config_io import apply_override
    from progan.presets import get_preset
    from progan.training.loop import train

    def cfg_for(kimg: float, resume: bool):  # type: ignore[no-untyped-def]
        cfg = get_preset("biggan-fashion-mnist")
        for a in (f"run.data={data}", f"run.outdir={workdir / 'runs'}", "run.device=cpu",
                  f"compute.threads={threads}", f"schedule.total_kimg={kimg}", "run.snap=1000", *overrides):
            apply_override(cfg, a)
        if resume:
            cfg.run.resume = "latest"
        return cfg

    t0 = time.perf_counter()
    run = train(cfg_for(FIRST_LEG_KIMG, False), progress=False)
    first = time.perf_counter() - t0
    rate = FIRST_LEG_KIMG / first  # kimg/s, including start-up
    remaining = minutes * 60 - first
    total = FIRST_LEG_KIMG + max(0.0, remaining * rate * 0.97)
    if total > FIRST_LEG_KIMG + 0.5:
        run = train(cfg_for(round(total, 3), True), progress=False)
    wall = time.perf_counter() - t0
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    return run, {"wall_s": wall, "kimg": rows[-1]["kimg"], "first_leg_s": first,
                 "img_per_sec_last_tick": rows[-1]["img_per_sec"], "loss_D_last": rows[-1].get("loss/D"),
                 "loss_G_last": rows[-1].get("loss/G")}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=20.0, help="Training wall-clock budget.")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/bench_biggan_fashion.json"))
    ap.add_argument("--workdir", type=Path, default=Path("runs/bench_biggan_fashion"))
    ap.add_argument("--num", type=int, default=2000, help="Generated images per evaluation.")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for training (1 suits a shared CPU).")
    ap.add_argument("--classifier-images", type=int, default=60000,
                    help="Real images the judge is trained on.")
    ap.add_argument("--thresholds", default=THRESHOLDS,
                    help="Truncation thresholds of the sweep ('none' = off).")
    ap.add_argument("--standing-stats", type=int, default=16,
                    help="Batches for standing BN statistics in the second sweep "
                         "(0: running statistics only).")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    args = ap.parse_args(argv)
    if args.minutes <= 0 or args.num < 2 or args.threads < 1 or args.classifier_images < 100:
        ap.error("--minutes must be > 0, --num >= 2, --threads >= 1, --classifier-images >= 100")
    # Two threads on a CPU that other jobs share are often slower than one (measured: up to 10x).
    torch.set_num_threads(args.threads)

    import progan
    from progan.data import default_dataset_dir
    from progan.metrics import evaluate
    from progan.sampling.truncation_sweep import parse_thresholds, plot_sweep, truncation_sweep
    from progan.training.snapshots import list_snapshots

    args.workdir.mkdir(parents=True, exist_ok=True)
    data = default_dataset_dir(progress=False)
    clf, clf_acc = _classifier(data, args.workdir, args.classifier_images)
    print(f"classifier {clf}: held-out accuracy {clf_acc:.3f}")
    run, train_info = _train(data, args.workdir, args.minutes, args.threads, args.overrides)
    print(f"trained {train_info['kimg']:.1f} kimg in {train_info['wall_s'] / 60:.1f} min: {run}")

    G = progan.load_generator(list_snapshots(run)[-1])
    metrics = ["cas", "fid", "pr"]
    kw = {"features_path": str(clf)}
    results: dict[str, object] = {}
    modes = [("running_stats", 0)]
    if args.standing_stats:
        modes.append(("standing_stats", args.standing_stats))
    for name, standing in modes:
        points = truncation_sweep(G, data, metrics, thresholds=parse_thresholds(args.thresholds),
                                  num_images=args.num, standing_stats=standing,
                                  evaluate_kwargs=kw, echo=lambda s, n=name: print(f"[{n}] {s}"))
        results[name] = points
        plot_sweep(points, args.out.with_name(args.out.stem + f"_{name}.png"),
                   title=f"biggan-fashion-mnist, {train_info['kimg']:.0f} kimg, {name.replace('_', ' ')}")
    real = evaluate(None, data, ["cas", "fid", "pr"], num_images=args.num, real_vs_real=True, **kw)

    best = max((p for points in results.values() for p in points), key=lambda p: p["cas"])  # type: ignore[union-attr]
    untrunc = next(p for p in results["running_stats"] if p["truncation"] is None)  # type: ignore[union-attr]
    print()
    print(f"{'':24s} {'cas':>7s} {'fid':>8s} {'prec':>6s} {'recall':>6s}")
    print(f"{'real vs real':24s} {real['cas']['cas']:7.3f} {real['fid']['fid']:8.3f} "
          f"{real['pr']['precision']:6.3f} {real['pr']['recall']:6.3f}")
    for label, p in (("G_ema, no truncation", untrunc), (f"best cas (t={best['truncation']})", best)):
        print(f"{label:24s} {p['cas']:7.3f} {p['fid']:8.3f} {p['pr/precision']:6.3f} {p['pr/recall']:6.3f}")
    doc = {
        "benchmark": "biggan-fashion-mnist class-conditional quality",
        "command": " ".join([os.path.basename(sys.argv[0]), *(argv if argv is not None else sys.argv[1:])]),
        "minutes": args.minutes, "threads": args.threads, "overrides": args.overrides, "num_images": args.num,
        "run": str(run), "train": train_info, "classifier_test_accuracy": clf_acc,
        "real_vs_real": real, "untruncated": untrunc, "best": best, "sweeps": results,
        "load_average_end": os.getloadavg(), "machine": platform.platform(), "torch": torch.__version__,
        "aim": "cas > 0.80",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
