"""Data pipeline speed: prepare (Fashion-MNIST idx, a folder of JPEGs) and loader throughput.

Targets: all 70k Fashion-MNIST images in < 20 s; 10,000 256x256 JPEGs -> 64x64 at >= 400 img/s;
loader >= 100,000 img/s at 32x32 and >= 5,000 img/s at 256x256 as float minibatches.

The machine may be shared: loader rates are the best of five 0.6 s windows, and each loader row also gives its
ratio to a bare uint8 gather of random rows measured the same way in the same run (the part of the loader's
cost that is float conversion, mirroring and fading). Prepare timings are single runs; the load average at
the end is written to the JSON.

    python benchmarks/bench_data.py [--jpegs 10000] [--json benchmarks/bench_data.json] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

FASHION = Path("/usr/share/datasets/fashion-mnist")


def _make_jpegs(args: tuple[Path, int, int, int]) -> int:
    """Smooth random images (upsampled 8x8 noise plus texture), closer to photos than white noise."""
    folder, start, stop, size = args
    for i in range(start, stop):
        rng = np.random.default_rng(i)
        noise = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        base = Image.fromarray(noise).resize((size, size), Image.BICUBIC)
        arr = np.asarray(base).astype(np.int16) + rng.integers(-12, 13, (size, size, 3), dtype=np.int16)
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(folder / f"{i:06d}.jpg", quality=90)
    return stop - start


def make_jpeg_folder(folder: Path, count: int, size: int = 256, workers: int = 2) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    step = 250
    jobs = [(folder, s, min(s + step, count), size) for s in range(0, count, step)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_make_jpegs, jobs))


def timed(fn, *args, **kwargs) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t0, out


def _best_rate(step, batch: int, windows: int = 5, seconds: float = 0.6) -> float:  # type: ignore[no-untyped-def]
    """Images/s of ``step()``: the best of several short windows, since other jobs share this machine."""
    step()
    best = 0.0
    for _ in range(windows):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            step()
            n += batch
        best = max(best, n / (time.perf_counter() - t0))
    return best


def loader_rate(ds, batch: int, res: int, alpha: float, mirror: bool) -> float:  # type: ignore[no-untyped-def]
    from progan.data import Loader

    loader = Loader(ds, seed=0, mirror=mirror)
    return _best_rate(lambda: loader.next(batch, res, alpha), batch)


def gather_rate(ds, batch: int, res: int) -> float:  # type: ignore[no-untyped-def]
    """Baseline in the same run: uint8 gathers of random rows only (no shuffling bookkeeping, no float)."""
    rng = np.random.default_rng(1)
    return _best_rate(lambda: ds.gather(res, rng.integers(0, len(ds), batch)), batch)


def pillow_rate(folder: Path, resolution: int, count: int = 400) -> float:
    """Baseline in the same run: one process decoding + Lanczos-resizing the JPEGs, nothing else."""
    from progan.data.decode import decode

    files = sorted(folder.iterdir())[:count]
    t0 = time.perf_counter()
    for f in files:
        decode(f.read_bytes(), resolution, 3, "center-crop")
    return len(files) / (time.perf_counter() - t0)


def wait_ms(ds, batch: int, res: int, alpha: float, prefetch: bool,  # type: ignore[no-untyped-def]
            step_ms: float = 10.0) -> float:
    """Median time the caller waits in ``next`` when each training step takes ``step_ms`` (simulated with
    sleep, like a GPU step that releases the CPU)."""
    from progan.data import Loader

    loader = Loader(ds, seed=0, mirror=True, prefetch=prefetch)
    loader.next(batch, res, alpha)
    waits = []
    for _ in range(60):
        t0 = time.perf_counter()
        loader.next(batch, res, alpha)
        waits.append(time.perf_counter() - t0)
        time.sleep(step_ms / 1000)
    return float(np.median(waits)) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jpegs", type=int, default=10000)
    p.add_argument("--json", type=Path, default=Path(__file__).with_suffix(".json"))
    p.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temp dir, removed)")
    p.add_argument("--workers", type=int, default=None)
    args = p.parse_args()

    from progan.data import Loader, open_dataset, prepare

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_data_"))
    rows: list[dict[str, object]] = []

    def add(name: str, value: float, unit: str, target: str, ok: bool, note: str = "") -> None:
        rows.append({"name": name, "value": round(value, 2), "unit": unit, "target": target, "ok": ok,
                     "note": note})
        verdict = "ok" if ok else "MISSED"
        print(f"{name:<48} {value:>12,.1f} {unit:<6} {target:<14} {verdict} {note}", flush=True)

    print(f"{'measurement':<48} {'value':>12} {'unit':<6} {'target':<14}")
    try:
        fm = None
        if (FASHION / "train-images-idx3-ubyte.gz").exists():
            dt, fm_path = timed(prepare, FASHION, work / "fm-all", split="all", force=True, progress=False,
                                workers=args.workers)
            fm = open_dataset(fm_path)
            add("prepare Fashion-MNIST all 70k (idx -> 32x32)", dt, "s", "< 20 s", dt < 20,
                f"{len(fm)} images")
        else:
            print("Fashion-MNIST missing: apt-get install dataset-fashion-mnist (rows skipped)")

        jpeg_dir = work / "jpegs"
        if not jpeg_dir.exists() or len(os.listdir(jpeg_dir)) != args.jpegs:
            t0 = time.perf_counter()
            make_jpeg_folder(jpeg_dir, args.jpegs)
            took = time.perf_counter() - t0
            print(f"(generated {args.jpegs} JPEGs 256x256 in {took:.1f} s, not timed)", flush=True)
        dt, _ = timed(prepare, jpeg_dir, work / "j64", resolution=64, force=True, progress=False,
                      workers=args.workers)
        base = pillow_rate(jpeg_dir, 64)
        add(f"prepare {args.jpegs} JPEGs 256x256 -> 64x64", args.jpegs / dt, "img/s", ">= 400 img/s",
            args.jpegs / dt >= 400, f"{dt:.1f} s; {args.jpegs / dt / base:.2f}x one process decoding")
        dt, j256 = timed(prepare, jpeg_dir, work / "j256", resolution=256, force=True, progress=False,
                         workers=args.workers)
        add(f"prepare {args.jpegs} JPEGs 256x256 -> 256x256", args.jpegs / dt, "img/s", "(info)", True,
            f"{dt:.1f} s")
        ds256 = open_dataset(j256)

        cases = []
        if fm is not None:
            cases += [(fm, 64, 32, 1.0, False), (fm, 64, 32, 0.5, True), (fm, 128, 32, 1.0, True)]
        cases += [(ds256, 8, 256, 1.0, False), (ds256, 8, 256, 0.5, True), (ds256, 32, 256, 1.0, True)]
        for ds, batch, res, alpha, mirror in cases:
            rate = loader_rate(ds, batch, res, alpha, mirror)
            base = gather_rate(ds, batch, res)
            target = 100_000 if res == 32 else 5_000
            name = f"loader {res}x{res}x{ds.channels} batch {batch} alpha {alpha} mirror {int(mirror)}"
            add(name, rate, "img/s", f">= {target:,} img/s", rate >= target,
                f"{rate / base:.2f}x of a bare uint8 gather")
        # On a GPU the float conversion and fade run on the device; the CPU's share is the uint8 batch.
        for batch in (8, 32):
            loader = Loader(ds256, seed=0, mirror=True)
            # the uint8 gather + mirror a GPU run's next() does on the CPU before the transfer
            positions = loader._positions(0, batch)
            rate = _best_rate(lambda: loader._build(positions, loader.rows(positions), 256), batch)
            base = gather_rate(ds256, batch, 256)
            add(f"loader 256x256x3 batch {batch} uint8 (CPU part of a GPU run)", rate, "img/s",
                ">= 5,000 img/s", rate >= 5000, f"{rate / base:.2f}x of a bare uint8 gather")
        for prefetch in (False, True):
            ms = wait_ms(ds256, 32, 256, 0.5, prefetch)
            name = f"loader 256 batch 32 fade+mirror: wait per step, prefetch {int(prefetch)}"
            add(name, ms, "ms", "(info)", True, "median, 10 ms simulated step")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    doc = {"benchmark": "bench_data", "python": sys.version.split()[0], "platform": platform.platform(),
           "cpus": os.cpu_count(), "load_average": os.getloadavg(), "rows": rows,
           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    args.json.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
