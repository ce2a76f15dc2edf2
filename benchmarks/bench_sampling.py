"""Sampling benchmark: generation throughput by batch size, and projection quality and time.

Projection targets are images the generator made itself (seeds 1000, 1001, 1002), so a perfect
optimiser reaches infinite PSNR; the table gives the PSNR reached after N Adam steps (4 restarts) and
the wall time. Throughput and thread comparisons are ratios measured inside one run, because the machine
may be shared (the load average is recorded).

    python benchmarks/bench_sampling.py [--network CKPT_OR_RUN] [--out benchmarks/bench_sampling.json]

Without --network a random-weight 32x32 grey generator (z_dim 16, the ``tiny`` preset's widths) is used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch


def _generator(network: str | None) -> tuple[torch.nn.Module, str]:
    import progan

    if network:
        return progan.load_generator(network), network
    from progan.config import NetworkConfig
    from progan.networks import Generator

    torch.manual_seed(0)
    G = Generator(NetworkConfig(resolution=32, channels=1, latent_size=16, fmap_base=64, fmap_max=16))
    with torch.no_grad():
        for layer in G.to_rgb:  # keep outputs mostly inside [-1, 1], as a trained G's
            layer.weight.mul_(0.4)
    return G.eval().requires_grad_(False), "random tiny 32x32 grey"


def _throughput(G: torch.nn.Module, batch: int, n: int = 256) -> float:
    from progan.sampling.generate import generate_images

    generate_images(G, range(batch), batch_size=batch)  # warm-up
    t = time.perf_counter()
    generate_images(G, range(n), batch_size=batch)
    return n / (time.perf_counter() - t)


def _projection(G: torch.nn.Module, steps: int, seeds: list[int]) -> tuple[list[float], float]:
    from progan.images import to_uint8
    from progan.sampling.generate import generate_images
    from progan.sampling.project import ProjectConfig, project

    psnrs, seconds = [], 0.0
    for seed in seeds:
        target = to_uint8(generate_images(G, [seed]))[0].numpy()
        r = project(G, target, config=ProjectConfig(steps=steps, restarts=4))
        psnrs.append(round(r.psnr, 2))
        seconds += r.seconds
    return psnrs, seconds / len(seeds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("bench_sampling.json"))
    args = ap.parse_args()
    G, name = _generator(args.network)
    threads = torch.get_num_threads()
    result: dict = {"network": name, "resolution": int(G.output_resolution), "threads": threads,
                    "loadavg_start": os.getloadavg(), "platform": platform.platform(),
                    "torch": torch.__version__}

    print(f"generator: {name}, {G.output_resolution}x{G.output_resolution}, z_dim {G.z_dim}, "
          f"{threads} threads")
    rates = {b: _throughput(G, b) for b in (1, 8, 32, 64)}
    print("\nbatch  img/s   x batch-1")
    for b, r in rates.items():
        print(f"{b:5d}  {r:7.1f}  {r / rates[1]:5.2f}")
    result["generate_img_per_s"] = {str(b): round(r, 1) for b, r in rates.items()}

    seeds = [1000, 1001, 1002]
    print("\nsteps  PSNR dB (own images, 4 restarts)   s/projection")
    result["projection"] = {}
    for steps in (50, 100, 300):
        psnrs, sec = _projection(G, steps, seeds)
        print(f"{steps:5d}  {psnrs!s:32s}  {sec:6.2f}")
        result["projection"][str(steps)] = {"psnr_db": psnrs, "seconds": round(sec, 3)}

    print("\nthreads  s/projection (100 steps)  x 1 thread")
    per_thread = {}
    for n in sorted({1, threads}):
        torch.set_num_threads(n)
        per_thread[n] = _projection(G, 100, seeds[:1])[1]
    torch.set_num_threads(threads)
    for n, sec in per_thread.items():
        print(f"{n:7d}  {sec:24.2f}  {sec / per_thread[1]:5.2f}")
    result["projection_seconds_by_threads"] = {str(n): round(s, 3) for n, s in per_thread.items()}
    result["loadavg_end"] = os.getloadavg()
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
