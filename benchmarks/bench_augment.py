"""Augmentation for small data sets: Fashion-MNIST subsets of 1,000 / 5,000 / 60,000
training images, the same kimg for every arm (none / ada / diffaug), scored against the 10,000 test images.

    python benchmarks/bench_augment.py        # the full benchmark (hours on 2 cores)
    python benchmarks/bench_augment.py --sizes 1000 --kimg 20 --num 2000 --results /tmp/aug-check  # smoke

Every arm trains the ``fashion-mnist`` preset with the non-saturating loss and R1 (``--loss``, ``--r1-gamma``;
ADA with ``augment.speed_kimg`` scaled to the short run, ``--ada-speed-kimg``):
ADA's overfitting heuristic r_t = E[sign D(real)] needs a decision boundary, which the preset's WGAN-GP critic
lacks (add the arm ``none-wgan`` for the preset exactly as it ships). For each run's last snapshot (G_ema):

- SWD (x1e3, the paper's protocol) and classifier-feature FID (``progan classifier train`` on the full
  training set) against the test set, with the real-vs-real floor (two halves of the test set);
- class coverage: the classifier's class histogram of the samples against the test set's (histogram
  intersection, 1 = every class as often as in the data) and the number of classes with >= 5% of samples;
- r_t and p over kimg (from stats.jsonl; a plot per data-set size);
- memorisation: for 64 samples, the nearest training image in classifier-feature space and its distance
  (a grid of sample | nearest), beside the same for 64 test images (real images the run never saw);
- the rotate90 leak check: a small "upright or rotated" classifier trained on rotated / upright training
  reals; the share of samples it calls rotated against its rate on un-augmented test reals;
- the step time of ADA (p = 0.2, 0.5, 1) against none at 32x32 on this CPU (interleaved, median).

Runs already finished in ``--workdir`` are reused, so an interrupted benchmark continues. Writes
``<results>/augment.json`` and the PNGs under ``<results>/augment/``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
FASHION = "/usr/share/datasets/fashion-mnist"
ARMS = {"none": [], "ada": ["--augment", "ada"], "diffaug": ["--augment", "diffaug"], "none-wgan": []}


def progan(*args: str) -> None:
    print("$ progan " + " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "progan", *args], check=True)


# -- data, classifier, runs ------------------------------------------------------------------------------
def prepare(work: Path, sizes: list[int]) -> tuple[Path, dict[int, Path]]:
    test = work / "fm-test"
    if not (test / "dataset.json").exists():
        progan("prepare", FASHION, str(test), "--split", "test", "--quiet", "--force")
    subsets = {}
    for n in sizes:
        d = work / f"fm-train-{n}"
        if not (d / "dataset.json").exists():
            extra = [] if n >= 60000 else ["--max-images", str(n)]
            progan("prepare", FASHION, str(d), "--quiet", "--force", *extra)
        subsets[n] = d
    return test, subsets


def classifier(work: Path, full_train: Path) -> Path:
    path = work / "fm-classifier.safetensors"
    if not path.exists():
        progan("classifier", "train", "--data", str(full_train), "--out", str(path), "--quiet")
    return path


def train_arm(work: Path, data: Path, size: int, arm: str, args: argparse.Namespace) -> Path:
    outdir = work / "runs" / f"{size}-{arm}"
    done = sorted(outdir.glob("*/network-snapshot-*.safetensors"))
    if done and _last_kimg(done[-1].parent) >= args.kimg:
        return done[-1].parent
    loss = [] if arm == "none-wgan" else ["--loss", args.loss, "--set", f"loss.r1_gamma={args.r1_gamma}"]
    if arm == "ada":
        loss += ["--set", f"augment.speed_kimg={args.ada_speed_kimg}"]
    resume = ["--resume", "latest"] if done else []
    progan("train", "--preset", "fashion-mnist", "--data", str(data), "--outdir", str(outdir), "--kimg",
           str(args.kimg), "--seed", str(args.seed), "--quiet", "--device", "cpu", *loss, *ARMS[arm], *resume,
           *args.extra)
    return max(outdir.glob("*/network-snapshot-*.safetensors")).parent


def _stats(run: Path) -> list[dict]:
    from progan.training.stats import read_stats

    return read_stats(run / "stats.jsonl")


def _last_kimg(run: Path) -> float:
    rows = _stats(run)
    return rows[-1]["kimg"] if rows else 0.0


# -- scoring ---------------------------------------------------------------------------------------------
def features(clf: torch.nn.Module, images: np.ndarray, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Classifier features [N, 128] (float64) and predicted classes of uint8 images."""
    feats, preds = [], []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            f, logits = clf.features_and_logits(torch.from_numpy(np.array(images[i:i + batch])))
            feats.append(f.double().numpy())
            preds.append(logits.argmax(1).numpy())
    return np.concatenate(feats), np.concatenate(preds)


def nearest(queries: np.ndarray, support: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index and L2 distance of each query's nearest support row."""
    q, s = torch.from_numpy(queries), torch.from_numpy(support)
    best_d = torch.full((len(q),), float("inf"), dtype=torch.float64)
    best_i = torch.zeros(len(q), dtype=torch.long)
    for start in range(0, len(s), 8192):
        d = torch.cdist(q, s[start:start + 8192])
        v, i = d.min(dim=1)
        better = v < best_d
        best_d = torch.where(better, v, best_d)
        best_i = torch.where(better, i + start, best_i)
    return best_i.numpy(), best_d.numpy()


def score_run(run: Path, test: Path, train_dir: Path, clf_path: Path, leak_model: torch.nn.Module,
              out_dir: Path, tag: str, num: int) -> dict:
    import progan
    from progan.data import open_dataset
    from progan.images import make_grid, save_image
    from progan.metrics import evaluate
    from progan.metrics.classifier import load_classifier
    from progan.metrics.sources import generate_samples
    from progan.training.snapshots import list_snapshots

    snap = list_snapshots(run)[-1]
    G = progan.load_generator(snap)
    res = evaluate(G, test, ["swd", "fid"], num_images=num, seed=0, features_path=clf_path)
    clf, _, _ = load_classifier(clf_path)
    fakes, _ = generate_samples(G, num, seed=1, batch_size=128)
    assert fakes is not None
    fakes = _at32(fakes)
    test_ds = open_dataset(test)
    test_imgs = test_ds.images(32)
    f_fake, p_fake = features(clf, fakes)
    k = clf.num_classes
    h_fake = np.bincount(p_fake, minlength=k) / len(p_fake)
    h_real = np.bincount(np.asarray(test_ds.labels), minlength=k) / len(test_ds)
    train_imgs = open_dataset(train_dir).images(32)
    f_train, _ = features(clf, train_imgs)
    idx, dist = nearest(f_fake[:64], f_train)
    _, test_dist = nearest(features(clf, test_imgs[:64])[0], f_train)
    pairs = np.stack([fakes[:64], train_imgs[idx]], axis=1).reshape(128, *fakes.shape[1:])
    grid = save_image(make_grid(pairs, cols=16, size=64), out_dir / f"nearest-{tag}.png")
    with torch.no_grad():
        rotated = leak_model(_to_float(fakes)).argmax(1).float().mean().item()
    rows = _stats(run)
    return {
        "run": str(run), "snapshot": snap.name, "kimg": rows[-1]["kimg"],
        "swd": res["swd"]["avg"], "swd_levels": {k2: v for k2, v in res["swd"].items() if k2 != "avg"},
        "clf_fid": res["fid"]["fid"],
        "coverage": float(np.minimum(h_fake, h_real).sum()), "classes_covered": int((h_fake >= 0.05).sum()),
        "class_histogram": h_fake.round(4).tolist(),
        "nearest_train_distance_fakes": float(np.mean(dist)),
        "nearest_train_distance_test": float(np.mean(test_dist)),
        "nearest_grid": str(grid), "called_rotated": rotated,
        "series": [{"kimg": r["kimg"], "p": r.get("augment/p"), "rt": r.get("scores/real_sign"),
                    "sec_per_kimg": r.get("sec_per_kimg"), "resolution": r.get("resolution")} for r in rows],
    }


def _at32(images: np.ndarray) -> np.ndarray:
    """Nearest-neighbour upscaling of a run that stopped below 32x32 (short smoke runs)."""
    f = 32 // images.shape[-1]
    return images if f == 1 else images.repeat(f, axis=-2).repeat(f, axis=-1)


def _to_float(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(images)).float() / 127.5 - 1   # a copy: memory maps are read-only


# -- the rotate90 leak check -------------------------------------------------------------------------------
def train_leak_classifier(train_dir: Path, seed: int, epochs: int = 3) -> torch.nn.Module:
    """A small CNN telling upright (0) from rotated by 90/180/270 degrees (1), trained on training reals,
    half of each batch rotated (the augmentation ADA's rotate90 applies)."""
    from progan.data import open_dataset

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x = _to_float(open_dataset(train_dir).images(32))
    net = torch.nn.Sequential(
        torch.nn.Conv2d(x.shape[1], 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(), torch.nn.Linear(64, 2))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    steps = max(1500, epochs * len(x) // 64)
    for _ in range(steps):
        b = x[torch.randint(len(x), (64,), generator=g)]
        k = torch.randint(4, (64,), generator=g) * (torch.rand(64, generator=g) < 0.5)
        b = torch.stack([torch.rot90(img, int(r), dims=(-2, -1)) for img, r in zip(b, k)])
        loss = F.cross_entropy(net(b), (k > 0).long())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def leak_rates(net: torch.nn.Module, test: Path) -> dict[str, float]:
    from progan.data import open_dataset

    x = _to_float(open_dataset(test).images(32))
    with torch.no_grad():
        upright = net(x).argmax(1).float().mean().item()
        turned = net(torch.rot90(x, 1, dims=(-2, -1))).argmax(1).float().mean().item()
    return {"test_upright_called_rotated": upright, "test_rotated_called_rotated": turned}


# -- step time -----------------------------------------------------------------------------------------
def step_times(reps: int, seed: int) -> dict[str, float]:
    """Median seconds per D+G step of the fashion-mnist nets at 32x32 (lod 0), minibatch 32, NS loss + R1."""
    from progan.augment.runtime import Augmenter
    from progan.config import AugmentConfig, LossConfig
    from progan.networks import build_discriminator, build_generator
    from progan.presets import get_preset
    from progan.training.distributed import World
    from progan.training.stats import Collector
    from progan.training.steps import StepContext, d_step, g_step

    cfg = get_preset("fashion-mnist")
    cfg.network.resolution, cfg.network.channels = 32, 1
    torch.manual_seed(seed)
    G, D = build_generator(cfg.network), build_discriminator(cfg.network)
    G.lod = D.lod = 0.0
    opt_G, opt_D = torch.optim.Adam(G.parameters(), lr=1e-4), torch.optim.Adam(D.parameters(), lr=1e-4)
    loss = LossConfig(kind="non-saturating", r1_gamma=1.0)
    ctx, stats, n = StepContext(torch.device("cpu")), Collector(None), 32
    arms = {"none": None}
    for p in (0.2, 0.5, 1.0):
        arms[f"ada-p{p}"] = Augmenter(AugmentConfig(kind="ada", p=p, target=0.0), 1, seed,
                                      torch.device("cpu"), World())
    arms["diffaug"] = Augmenter(AugmentConfig(kind="diffaug"), 1, seed, torch.device("cpu"), World())
    times: dict[str, list[float]] = {a: [] for a in arms}
    g = torch.Generator().manual_seed(seed)
    for rep in range(reps + 2):
        for name, aug in arms.items():
            reals = torch.rand(n, 1, 32, 32, generator=g) * 2 - 1
            z = torch.randn(n, cfg.network.latent_size, generator=g)
            t0 = time.perf_counter()
            d_step(G, D, opt_D, loss, reals, None, z, stats, ctx, augment=aug and aug.for_d_step(n, 32))
            g_step(G, D, opt_G, loss, z, None, stats, ctx, augment=aug and aug.for_g_step(n, 32))
            if rep >= 2:   # the first two rounds warm up
                times[name].append(time.perf_counter() - t0)
    med = {a: statistics.median(t) for a, t in times.items()}
    return {**{f"sec_{a}": v for a, v in med.items()},
            **{f"ratio_{a}": v / med["none"] for a, v in med.items()}}


# -- report ----------------------------------------------------------------------------------------------
def plot_series(results: dict, out_dir: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for size, arms in results.items():
        fig, ax = plt.subplots(figsize=(8, 4))
        for i, (arm, r) in enumerate(arms.items()):
            s, colour = r["series"], f"C{i}"
            if arm == "ada":   # DiffAugment's p is always 1, and the others have none
                ax.plot([x["kimg"] for x in s], [x["p"] for x in s], color=colour, label=f"{arm} p")
            if any(x["rt"] is not None for x in s):
                ax.plot([x["kimg"] for x in s], [x["rt"] for x in s], color=colour, ls=":",
                        label=f"{arm} r_t")
        ax.axhline(0.6, color="gray", lw=0.5)
        ax.set_xlabel("kimg")
        ax.set_title(f"{size} training images: p and r_t = E[sign D(real)]")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        path = out_dir / f"p-rt-{size}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(str(path))
    return paths


def verdicts(results: dict, leak: dict, timing: dict | None) -> dict[str, object]:
    out: dict[str, object] = {}
    sizes = sorted(int(s) for s in results)
    small, full = str(sizes[0]), str(sizes[-1])
    r = results.get(small, {})
    if "ada" in r and "none" in r:
        out[f"{small}: ada clf-FID / none"] = r["ada"]["clf_fid"] / r["none"]["clf_fid"]
        out[f"{small}: ada SWD no worse"] = r["ada"]["swd"] <= r["none"]["swd"]
    r = results.get(full, {})
    if "ada" in r and "none" in r and full != small:
        out[f"{full}: ada clf-FID / none"] = r["ada"]["clf_fid"] / r["none"]["clf_fid"]
    for size, arms in results.items():
        if "ada" in arms:
            out[f"{size}: ada called-rotated minus test-upright rate (points)"] = 100 * (
                arms["ada"]["called_rotated"] - leak["test_upright_called_rotated"])
    if timing:
        out["step time ratio ada p=0.5 / none"] = timing["ratio_ada-p0.5"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,5000,60000")
    ap.add_argument("--arms", default="none,ada,diffaug", help=f"from {', '.join(ARMS)}")
    ap.add_argument("--kimg", type=float, default=140.0, help="per run (the fashion-mnist preset's schedule)")
    ap.add_argument("--loss", default="non-saturating")
    ap.add_argument("--r1-gamma", type=float, default=1.0)
    ap.add_argument("--ada-speed-kimg", type=float, default=20.0,
                    help="ADA's augment.speed_kimg: the paper's 500 suits runs of 5-25M images; "
                         "a 140-kimg run needs p to be able to move within a fraction of it")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num", type=int, default=10000, help="samples per metric (the test set has 10,000)")
    ap.add_argument("--workdir", default="/tmp/progan-augment")
    ap.add_argument("--results", default=str(HERE / "results"),
                    help="folder for augment.json and augment/*.png")
    ap.add_argument("--timing-reps", type=int, default=30, help="0 skips the step-time measurement")
    ap.add_argument("--extra", action="append", default=[],
                    help="one more `progan train` argument (repeatable)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    arms = [a for a in args.arms.split(",") if a]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        ap.error(f"unknown arm(s) {unknown}")
    work, results_dir = Path(args.workdir), Path(args.results)
    out_dir = results_dir / "augment"
    out_dir.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    t0 = time.time()
    test, subsets = prepare(work, sorted(set(sizes) | {60000}))
    clf_path = classifier(work, subsets[60000])
    leak_model = train_leak_classifier(subsets[min(sizes)], args.seed)
    leak = leak_rates(leak_model, test)
    from progan.metrics import evaluate

    floor = evaluate(None, test, ["swd", "fid"], num_images=min(args.num, 5000), seed=0,
                     features_path=clf_path, real_vs_real=True)
    results: dict[str, dict] = {}
    for size in sizes:
        results[str(size)] = {}
        for arm in arms:
            run = train_arm(work, subsets[size], size, arm, args)
            r = score_run(run, test, subsets[size], clf_path, leak_model, out_dir, f"{size}-{arm}", args.num)
            results[str(size)][arm] = r
            print(f"{size:>6} {arm:<9} kimg {r['kimg']:<6.1f} SWD {r['swd']:7.2f}  "
                  f"clf-FID {r['clf_fid']:8.3f}  coverage {r['coverage']:.3f} "
                  f"({r['classes_covered']} classes)  nearest {r['nearest_train_distance_fakes']:.2f}"
                  f" (test {r['nearest_train_distance_test']:.2f})  rotated {100 * r['called_rotated']:.1f}%"
                  f"  final p {r['series'][-1]['p']}", flush=True)
    timing = step_times(args.timing_reps, args.seed) if args.timing_reps else None
    out = {
        "command": " ".join(["python", *sys.argv]), "kimg": args.kimg, "loss": args.loss,
        "r1_gamma": args.r1_gamma, "ada_speed_kimg": args.ada_speed_kimg,
        "num": args.num, "wall_seconds": time.time() - t0, "machine_note": "2 shared CPU cores",
        "real_vs_real": {"swd": floor["swd"]["avg"], "clf_fid": floor["fid"]["fid"],
                         "num_per_half": min(args.num, 5000)},
        "leak_classifier": leak, "step_time": timing, "results": results,
        "plots": plot_series(results, out_dir),
    }
    out["verdicts"] = verdicts(results, leak, timing)
    dest = results_dir / "augment.json"
    dest.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["verdicts"], indent=2))
    print(f"real-vs-real floor: SWD {out['real_vs_real']['swd']:.2f}, "
          f"clf-FID {out['real_vs_real']['clf_fid']:.3f}; leak classifier on test reals: "
          f"upright called rotated {100 * leak['test_upright_called_rotated']:.1f}%, "
          f"rotated called rotated {100 * leak['test_rotated_called_rotated']:.1f}%")
    if timing:
        print("step time ratios vs none: " + ", ".join(f"{k[6:]} {v:.2f}" for k, v in timing.items()
                                                      if k.startswith("ratio_")))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
