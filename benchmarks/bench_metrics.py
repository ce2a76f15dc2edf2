"""SWD and MS-SSIM speed and agreement: progan.metrics vs a plain NumPy/SciPy implementation of the same
protocol.

The NumPy/SciPy side transcribes the reference protocols as the authors' release writes them
(scipy.ndimage.convolve pyramids with mode='mirror', flat-index patch gathering, np.sort along the
descriptor axis; MS-SSIM with scipy.signal.fftconvolve on NHWC batches). Both sides run in this
process, one after the other, so the speed ratio is measured under the same machine load. Values must
agree within the metric's own seed-to-seed spread (different random patches/directions per seed).

    python benchmarks/bench_metrics.py [--quick] [--out FILE]
    python benchmarks/bench_metrics.py --classifier [--epochs 3]

Run it on an otherwise idle machine. On a shared one, add OMP_WAIT_POLICY=PASSIVE (spinning OpenMP
threads collapse when another job holds a core) - but that costs torch's side ~50% on an idle machine
(MS-SSIM of 2,000 pairs: 4.2 s vs 2.7 s before the per-core workers), so it is not the default.

``--classifier`` instead trains the offline classifier (progan classifier train) on the 60k Fashion-MNIST
training images and reports its accuracy on the 10k test images, and the wall time.

Data: Fashion-MNIST (Debian's dataset-fashion-mnist) padded to 32x32 for SWD at 32x32; for 128x128,
the same images upsampled 4x (bilinear) and tinted per image into RGB, a stand-in with real structure.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import scipy.ndimage
import scipy.signal
import torch

from progan.metrics import ms_ssim, sliced_wasserstein
from progan.metrics.msssim import gaussian_window

FMNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


# ----------------------------------------------------------------------------------------------------------
# NumPy/SciPy SWD, written as the reference release writes it.

_GAUSS = np.float32([[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6], [4, 16, 24, 16, 4],
                     [1, 4, 6, 4, 1]]) / 256


def np_pyr_down(mb: np.ndarray) -> np.ndarray:
    return scipy.ndimage.convolve(mb, _GAUSS[None, None], mode="mirror")[:, :, ::2, ::2]


def np_pyr_up(mb: np.ndarray) -> np.ndarray:
    s = mb.shape
    res = np.zeros((s[0], s[1], s[2] * 2, s[3] * 2), mb.dtype)
    res[:, :, ::2, ::2] = mb
    return scipy.ndimage.convolve(res, _GAUSS[None, None] * 4.0, mode="mirror")


def np_laplacian(mb: np.ndarray, levels: int) -> list[np.ndarray]:
    pyr = [np.float32(mb)]
    for _ in range(1, levels):
        pyr.append(np_pyr_down(pyr[-1]))
        pyr[-2] -= np_pyr_up(pyr[-1])
    return pyr


def np_descriptors(level: np.ndarray, rng: np.random.RandomState, nhood: int = 7,
                   per_image: int = 128) -> np.ndarray:
    s = level.shape
    n = per_image * s[0]
    h = nhood // 2
    nh, ch, x, y = np.ogrid[0:n, 0:3, -h : h + 1, -h : h + 1]
    img = nh // per_image
    x = x + rng.randint(h, s[3] - h, size=(n, 1, 1, 1))
    y = y + rng.randint(h, s[2] - h, size=(n, 1, 1, 1))
    return level.flat[((img * s[1] + ch) * s[2] + y) * s[3] + x]


def np_finalize(desc: list[np.ndarray]) -> np.ndarray:
    d = np.concatenate(desc, axis=0)
    d -= np.mean(d, axis=(0, 2, 3), keepdims=True)
    d /= np.std(d, axis=(0, 2, 3), keepdims=True)
    return d.reshape(d.shape[0], -1)


def np_sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.RandomState) -> float:
    results = []
    for _ in range(4):
        dirs = rng.randn(a.shape[1], 128)
        dirs /= np.sqrt(np.sum(np.square(dirs), axis=0, keepdims=True))
        dirs = dirs.astype(np.float32)
        pa = np.sort(np.matmul(a, dirs), axis=0)
        pb = np.sort(np.matmul(b, dirs), axis=0)
        results.append(np.mean(np.abs(pa - pb)))
    return float(np.mean(results))


def np_swd(reals: np.ndarray, fakes: np.ndarray, seed: int, minibatch: int = 256) -> dict[str, float]:
    rng = np.random.RandomState(seed)
    resolutions = []
    r = reals.shape[-1]
    while r >= 16:
        resolutions.append(r)
        r //= 2
    descs = []
    for images in (reals, fakes):
        per_level: list[list[np.ndarray]] = [[] for _ in resolutions]
        for i in range(0, len(images), minibatch):
            mb = images[i : i + minibatch]
            if mb.shape[1] == 1:
                mb = np.tile(mb, (1, 3, 1, 1))
            for lod, level in enumerate(np_laplacian(mb, len(resolutions))):
                per_level[lod].append(np_descriptors(level, rng))
        descs.append([np_finalize(d) for d in per_level])
    out = {str(res): np_sliced_wasserstein(descs[0][i], descs[1][i], rng) * 1e3
           for i, res in enumerate(resolutions)}
    out["avg"] = float(np.mean(list(out.values())))
    return out


# ----------------------------------------------------------------------------------------------------------
# NumPy/SciPy MS-SSIM (the reference's NHWC batch formulation, per-image means over H, W, C).

def _np_window(size: int, sigma: float) -> np.ndarray:
    # The 1-D factor; the window itself is checked against the reference in tests.
    g = gaussian_window(size, sigma)
    return np.outer(g, g)


def np_ms_ssim_batch(img1: np.ndarray, img2: np.ndarray) -> np.ndarray:
    weights = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    a, b = img1.astype(np.float64), img2.astype(np.float64)
    mssim, mcs = [], []
    for _ in range(5):
        size = min(11, a.shape[1], a.shape[2])
        win = np.reshape(_np_window(size, size * 1.5 / 11), (1, size, size, 1))
        mu1 = scipy.signal.fftconvolve(a, win, mode="valid")
        mu2 = scipy.signal.fftconvolve(b, win, mode="valid")
        s11 = scipy.signal.fftconvolve(a * a, win, mode="valid") - mu1 * mu1
        s22 = scipy.signal.fftconvolve(b * b, win, mode="valid") - mu2 * mu2
        s12 = scipy.signal.fftconvolve(a * b, win, mode="valid") - mu1 * mu2
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        v1, v2 = 2.0 * s12 + c2, s11 + s22 + c2
        mssim.append(np.mean((2.0 * mu1 * mu2 + c1) * v1 / ((mu1 * mu1 + mu2 * mu2 + c1) * v2),
                             axis=(1, 2, 3)))
        mcs.append(np.mean(v1 / v2, axis=(1, 2, 3)))
        a = (a[:, 0::2, 0::2, :] + a[:, 1::2, 0::2, :] + a[:, 0::2, 1::2, :] + a[:, 1::2, 1::2, :]) * 0.25
        b = (b[:, 0::2, 0::2, :] + b[:, 1::2, 0::2, :] + b[:, 0::2, 1::2, :] + b[:, 1::2, 1::2, :]) * 0.25
    mssim_a, mcs_a = np.clip(np.asarray(mssim), 0, np.inf), np.clip(np.asarray(mcs), 0, np.inf)
    return np.prod(mcs_a[:-1] ** weights[:-1, None], axis=0) * mssim_a[-1] ** weights[-1]


def np_ms_ssim(images: np.ndarray, batch: int = 100) -> float:
    nhwc = images.transpose(0, 2, 3, 1)
    vals = [np_ms_ssim_batch(nhwc[i : i + batch : 2], nhwc[i + 1 : i + batch : 2])
            for i in range(0, len(nhwc), batch)]
    return float(np.concatenate(vals).mean())


# ----------------------------------------------------------------------------------------------------------

def fashion_mnist(n: int) -> np.ndarray:
    with gzip.open(FMNIST, "rb") as f:
        data = f.read()
    x = np.frombuffer(data, np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
    return np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))


def rgb128(gray32: np.ndarray, seed: int) -> np.ndarray:
    out = np.empty((len(gray32), 3, 128, 128), np.uint8)
    tint = np.random.default_rng(seed).uniform(0.4, 1.0, size=(len(gray32), 3, 1, 1)).astype(np.float32)
    for i in range(0, len(gray32), 1024):
        x = torch.from_numpy(gray32[i : i + 1024]).float()
        up = torch.nn.functional.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False).numpy()
        out[i : i + 1024] = np.clip(up * tint[i : i + 1024], 0, 255).round()
    return out


def bench_classifier(epochs: int, out: str) -> None:
    import tempfile

    from progan.metrics.classifier import load_classifier, train_classifier

    def labels(split: str) -> np.ndarray:
        with gzip.open(FMNIST.with_name(f"{split}-labels-idx1-ubyte.gz"), "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)

    def images(split: str) -> np.ndarray:
        with gzip.open(FMNIST.with_name(f"{split}-images-idx3-ubyte.gz"), "rb") as f:
            x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
        return np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fm.safetensors"
        res, seconds = timed(lambda: train_classifier(images("train"), labels("train"), path, epochs=epochs,
                                                      test_fraction=1e-9))
        model, _, _ = load_classifier(path)
        x, y = images("t10k"), labels("t10k")
        with torch.no_grad():
            pred = np.concatenate([model(torch.from_numpy(x[i : i + 1000])).argmax(1).numpy()
                                   for i in range(0, len(x), 1000)])
    acc = float((pred == y).mean())
    print(f"classifier: {epochs} epochs on 60,000 Fashion-MNIST images in {seconds:.0f} s; "
          f"test accuracy {acc:.4f} (10,000 test images)")
    Path(out).write_text(json.dumps({"epochs": epochs, "seconds": seconds, "test_accuracy": acc,
                                     "train_images": res.train_images}, indent=1))


def timed(fn):
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t


def bench_swd(name: str, reals: np.ndarray, fakes: np.ndarray, ref_n: int, seeds: int) -> dict:
    """Ours on all images (timed), ours on the reference's subset for several seeds (spread, timed once),
    the NumPy/SciPy side on that subset (timed)."""
    ours, t_ours = timed(lambda: sliced_wasserstein(reals, fakes, seed=0))
    row = {"case": name, "n": len(reals), "ours": ours, "ours_seconds": t_ours, "ref_n": ref_n}
    sub, t_sub = (ours, t_ours) if ref_n == len(reals) else timed(
        lambda: sliced_wasserstein(reals[:ref_n], fakes[:ref_n], seed=0))
    spread = [sub["avg"]] + [sliced_wasserstein(reals[:ref_n], fakes[:ref_n], seed=s)["avg"]
                             for s in range(1, seeds)]
    row.update(ours_subset=sub, ours_subset_seconds=t_sub, ours_avg_by_seed=spread)
    ref, t_ref = timed(lambda: np_swd(reals[:ref_n], fakes[:ref_n], seed=0))
    row.update(ref=ref, ref_seconds=t_ref, speedup=t_ref / t_sub)
    return row


def _row(c: dict) -> str:
    def avg(v):
        return v["avg"] if isinstance(v, dict) else v

    spread = c.get("ours_avg_by_seed")
    extra = f"  ours over {len(spread)} seeds at ref n {min(spread):.4f}..{max(spread):.4f}" if spread else ""
    return (f"{c['case']:<20} {c['n']:>6} {c['ours_seconds']:>9.1f} {c['ref_n']:>6} "
            f"{c.get('ours_subset_seconds', c['ours_seconds']):>10.1f} {c['ref_seconds']:>9.1f} "
            f"{c['speedup']:>7.1f}x"
            f"  ours {avg(c['ours']):.4f} (at ref n {avg(c.get('ours_subset', c['ours'])):.4f}) "
            f"ref {avg(c['ref']):.4f}"
            f"{extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n32", type=int, default=16384, help="images per set, SWD at 32x32")
    ap.add_argument("--n128", type=int, default=16384, help="images per set, SWD at 128x128 (ours)")
    ap.add_argument("--ref-n128", type=int, default=4096, help="images per set for the NumPy side at 128x128")
    ap.add_argument("--pairs", type=int, default=10000, help="MS-SSIM pairs at 128x128 (ours)")
    ap.add_argument("--ref-pairs", type=int, default=2000, help="MS-SSIM pairs for the NumPy side")
    ap.add_argument("--seeds", type=int, default=3, help="seeds for the seed-to-seed spread of our SWD")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--cases", default="msssim,swd32,swd128",
                    help="comma-separated subset of msssim,swd32,swd128,agree32,agree128 "
                         "(seed-to-seed spread of both sides at --agree-n images at 32x32, a quarter of that "
                         "at 128x128)")
    ap.add_argument("--agree-n", type=int, default=4096)
    ap.add_argument("--agree-seeds", type=int, default=4)
    ap.add_argument("--classifier", action="store_true", help="benchmark the offline classifier instead")
    ap.add_argument("--epochs", type=int, default=3, help="classifier epochs")
    ap.add_argument("--out", default="bench_metrics.json")
    args = ap.parse_args()
    if args.classifier:
        bench_classifier(args.epochs, args.out)
        return
    if args.quick:
        args.n32, args.n128, args.ref_n128 = 1024, 256, 256
        args.pairs, args.ref_pairs, args.seeds = 200, 200, 2
    need = max(2 * args.n32, 2 * args.n128, 2 * args.pairs)
    gray = fashion_mnist(min(60000, need))
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, OMP_WAIT_POLICY="
               f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}, load average {os.getloadavg()[0]:.2f}, "
               f"torch {torch.__version__}, threads {torch.get_num_threads()}, numpy {np.__version__}")
    results = {"machine": machine, "cases": []}
    print(results["machine"])
    print(f"\n{'case':<20} {'n':>6} {'ours s':>9} {'ref n':>6} {'ours@ref s':>10} {'ref s':>9} "
          f"{'speedup':>8}  values", flush=True)

    def report(case: dict) -> None:
        results["cases"].append(case)
        Path(args.out).write_text(json.dumps(results, indent=1))  # partial results survive an interruption
        print(_row(case), flush=True)

    cases = set(args.cases.split(","))
    if "msssim" in cases:
        pairs_imgs = rgb128(gray[: 2 * args.pairs], seed=1)
        ours, t_ours = timed(lambda: ms_ssim(pairs_imgs))
        sub = pairs_imgs[: 2 * args.ref_pairs]
        ours_sub, t_sub = timed(lambda: ms_ssim(sub))
        ref, t_ref = timed(lambda: np_ms_ssim(sub))
        del pairs_imgs
        report({"case": "msssim 128x128 rgb", "n": args.pairs, "ours": ours, "ours_seconds": t_ours,
                "ref_n": args.ref_pairs, "ours_subset": ours_sub, "ours_subset_seconds": t_sub,
                "ref": ref, "ref_seconds": t_ref, "speedup": t_ref / t_sub})
    if "swd32" in cases:
        n = args.n32
        report(bench_swd("swd 32x32 gray", gray[:n], gray[n : 2 * n], n, args.seeds))
    for case in ("agree32", "agree128"):
        if case not in cases:
            continue
        n = args.agree_n if case == "agree32" else args.agree_n // 4
        src = gray[: 2 * n] if case == "agree32" else rgb128(gray[: 2 * n], seed=0)
        a, b = src[:n], src[n : 2 * n]
        ours_v = [sliced_wasserstein(a, b, seed=s)["avg"] for s in range(args.agree_seeds)]
        ref_v = [np_swd(a, b, seed=s)["avg"] for s in range(args.agree_seeds)]
        row = {"case": case, "n": n, "ours_avg_by_seed": ours_v, "ref_avg_by_seed": ref_v,
               "ours_mean": float(np.mean(ours_v)), "ours_std": float(np.std(ours_v, ddof=1)),
               "ref_mean": float(np.mean(ref_v)), "ref_std": float(np.std(ref_v, ddof=1))}
        results["cases"].append(row)
        Path(args.out).write_text(json.dumps(results, indent=1))
        print(f"agreement, SWD avg at {src.shape[-1]}x{src.shape[-1]}, {n} vs {n} images, "
              f"{args.agree_seeds} seeds each: ours {row['ours_mean']:.4f} +- {row['ours_std']:.4f}, "
              f"NumPy/SciPy {row['ref_mean']:.4f} +- {row['ref_std']:.4f}", flush=True)
    if "swd128" in cases:
        big = rgb128(gray[: 2 * args.n128], seed=0)
        n = args.n128
        report(bench_swd("swd 128x128 rgb", big[:n], big[n : 2 * n], min(args.ref_n128, n), args.seeds))
    Path(args.out).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
