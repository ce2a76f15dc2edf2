"""Training-step throughput of the fashion-mnist preset's networks under CPU thread policies, on an idle
machine and beside one competing CPU-bound process that this script starts itself.

    python benchmarks/bench_threads.py [--seconds 3] [--out threads.json]

Each policy runs in a fresh process (OpenMP reads its environment once, when torch is imported), times
D + G steps (WGAN-GP, batch 32, synthetic reals) at 4, 8, 16 and 32 pixels, and prints img/s. Policies:

* ``default``: torch's default threads (one per core), libgomp's default spinning;
* ``1thread``: ``torch.set_num_threads(1)``;
* ``passive``: default threads with ``OMP_WAIT_POLICY=PASSIVE`` (workers sleep instead of spinning);
* ``progan``: what ``progan train`` does by default (:mod:`progan.threads`): the thread governor settles
  on a thread count before the first step and keeps looking at the machine while it trains.

Exploration: ``spin<n>`` is the default with ``GOMP_SPINCOUNT=<n>``; ``progan+spin<n>``, progan with it.

Every ratio in the summary comes from this one run. Results go to ``benchmarks/results/<--out>``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESOLUTIONS = (4, 8, 16, 32)
POLICIES = ("default", "1thread", "passive", "progan")


def _worker(policy: str, seconds: float) -> None:
    """Runs inside the child process: prints one JSON line of img/s per resolution."""
    import torch

    from progan.config import LossConfig
    from progan.networks import build_discriminator, build_generator
    from progan.presets import get_preset
    from progan.training.stats import Collector
    from progan.training.steps import StepContext, d_step, g_step

    governor = None
    if policy == "1thread":
        torch.set_num_threads(1)
    elif policy.startswith("progan"):
        from progan.threads import ThreadGovernor

        governor = ThreadGovernor()
        governor.settle()
    net = get_preset("fashion-mnist").network
    out = {}
    for res in RESOLUTIONS:
        torch.manual_seed(0)
        net.resolution = 32
        G, D = build_generator(net), build_discriminator(net)
        lod = float(5 - res.bit_length() + 1)  # 32 -> 0, 16 -> 1, 8 -> 2, 4 -> 3
        G.lod = D.lod = lod
        opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.0, 0.99))
        opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.0, 0.99))
        ctx, stats, loss = StepContext(torch.device("cpu"), full_resolution=32), Collector(None), LossConfig()
        gen = torch.Generator().manual_seed(1)
        reals = torch.rand(32, 1, res, res, generator=gen) * 2 - 1

        def step() -> None:
            z = torch.randn(32, net.latent_size, generator=gen)
            d_step(G, D, opt_d, loss, reals, None, z, stats, ctx, torch.rand(32, 1, 1, 1, generator=gen))
            g_step(G, D, opt_g, loss, torch.randn(32, net.latent_size, generator=gen), None, stats, ctx)

        for _ in range(3):
            step()
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            if governor is not None:
                governor.tick()
            step()
            steps += 1
        out[res] = 32 * steps / (time.perf_counter() - t0)
    print(json.dumps({"policy": policy, "img_per_sec": out, "threads_end": torch.get_num_threads()}))


def _run(policy: str, seconds: float) -> dict:
    env = dict(os.environ)
    for key in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        env.pop(key, None)
    if policy == "passive":
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    # exploration: "spin<n>" is torch's default threads with GOMP_SPINCOUNT=<n>, "progan+spin<n>" the
    # progan policy with that spin count (libgomp's default is 300000)
    if "spin" in policy:
        env["GOMP_SPINCOUNT"] = policy.split("spin", 1)[1]
    cmd = [sys.executable, __file__, "--worker", policy, "--seconds", str(seconds)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _busy() -> subprocess.Popen:
    """One CPU-bound process (pure Python, no threads), as a browser tab or a compile job would be."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=3.0, help="timing per resolution and policy")
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--out", default="threads.json")
    args = ap.parse_args()
    if args.worker:
        _worker(args.worker, args.seconds)
        return
    policies = [p for p in args.policies.split(",") if p]
    results: dict[str, dict] = {"idle": {}, "loaded": {}}
    for load in ("idle", "loaded"):
        busy = _busy() if load == "loaded" else None
        try:
            time.sleep(1.0 if busy else 0.0)
            for policy in policies:
                r = _run(policy, args.seconds)
                results[load][policy] = r
                print(f"{load:7s} {policy:8s} "
                      + "  ".join(f"{k:>2}px {v:7.1f}" for k, v in r["img_per_sec"].items())
                      + f"   threads at end {r['threads_end']}", flush=True)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
    summary = {}
    if "progan" in policies and "default" in policies and "1thread" in policies:
        for res in map(str, RESOLUTIONS):
            idle_one = results["idle"]["1thread"]["img_per_sec"][res]
            loaded_one = results["loaded"]["1thread"]["img_per_sec"][res]
            summary[res] = {
                "idle: progan / default (target >= 0.95)":
                    results["idle"]["progan"]["img_per_sec"][res]
                    / results["idle"]["default"]["img_per_sec"][res],
                "loaded: progan / idle 1 thread (target >= 0.8)":
                    results["loaded"]["progan"]["img_per_sec"][res] / idle_one,
                "loaded: progan / loaded 1 thread (target >= 1)":
                    results["loaded"]["progan"]["img_per_sec"][res] / loaded_one,
                "loaded: default / idle 1 thread":
                    results["loaded"]["default"]["img_per_sec"][res] / idle_one,
            }
        for res, row in summary.items():
            print(f"{res:>2}px " + "  ".join(f"{k} {v:.2f}" for k, v in row.items()))
    info = {"command": " ".join([sys.executable, *sys.argv]), "cpu": _cpu_model(), "results": results,
            "summary": summary, "loadavg_at_end": os.getloadavg()}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / args.out).write_text(json.dumps(info, indent=2) + "\n")
    print(f"wrote {HERE / 'results' / args.out}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
