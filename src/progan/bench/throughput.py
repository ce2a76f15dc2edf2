"""``progan bench``: steady-state training throughput against the machine's own dense-matmul peak.

For each resolution, a training step (D step with the loss and its gradient penalty, then G step)
is timed after warm-up on synthetic reals, so the loader and disk do not enter the number. Model
FLOPs are counted with ``torch.utils.flop_counter`` (convolutions and matmuls, forward and backward,
the penalty's double backward included) and set against a dense matmul of the same precision
measured on the same machine in the same run.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from progan.bench.baseline import eager_step
from progan.config import LossConfig, NetworkConfig
from progan.device import DTYPES
from progan.networks import build_discriminator, build_generator
from progan.training.compiling import compile_networks
from progan.training.stats import Collector
from progan.training.steps import StepContext, d_step, g_step


@dataclass
class BenchRow:
    """One measured configuration."""

    resolution: int
    phase: str                 # "stable" or "fade"
    precision: str
    impl: str                  # "progan", "progan-compile" (--compile) or "eager-baseline"
    batch: int
    img_per_sec: float
    sec_per_step: float
    gflop_per_img: float
    achieved_gflops: float
    peak_gflops: float
    peak_fraction: float


def matmul_peak_gflops(precision: str, device: torch.device, n: int = 2048, seconds: float = 1.5) -> float:
    """Best dense square matmul rate of the machine in ``precision`` (GFLOP/s), measured now.

    The best over sizes 256..``n``: on a CPU the cache-resident sizes run fastest (here 512 beats 2048
    by 4-5x on one thread), and the peak is the best the machine does, not the rate of one shape.
    """
    dtype = DTYPES[precision]
    sizes = [s for s in (256, 512, 1024, 2048, 4096) if s <= n] or [n]
    best = 0.0
    for size in sizes:
        a = torch.randn(size, size, device=device).to(dtype)
        b = torch.randn(size, size, device=device).to(dtype)
        for _ in range(2):
            a @ b
        deadline = time.perf_counter() + seconds / len(sizes)
        while time.perf_counter() < deadline:
            _sync(device)
            t0 = time.perf_counter()
            a @ b
            _sync(device)
            best = max(best, 2 * size**3 / (time.perf_counter() - t0) / 1e9)
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_network_config(resolution: int, channels: int, fmaps: int, latent: int) -> NetworkConfig:
    """``fmaps`` feature maps at every resolution (the standard matrix: 128 everywhere, latent 128)."""
    return NetworkConfig(resolution=resolution, channels=channels, fmap_base=fmaps << 12, fmap_max=fmaps,
                         latent_size=latent)


def _make_step(cfg: NetworkConfig, lod: float, batch: int, precision: str, loss: LossConfig, impl: str,
               device: torch.device, compile_backend: str = "inductor") -> Callable[[], None]:
    torch.manual_seed(0)
    G, D = build_generator(cfg).to(device), build_discriminator(cfg).to(device)
    G.lod = D.lod = lod
    res = cfg.resolution >> math.floor(lod)
    reals = torch.rand(batch, cfg.channels, res, res, device=device) * 2 - 1
    if impl == "progan-channels-last":  # the trainer's --channels-last
        # torch's stubs leave memory_format out of Module.to's overloads; it is a documented argument.
        G = G.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        D = D.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        reals = reals.contiguous(memory_format=torch.channels_last)
    z = torch.randn(batch, cfg.latent_size, device=device)
    if impl == "eager-baseline":
        return eager_step(G, D, reals, z, loss, precision)
    opt_G, opt_D = (torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.0, 0.99), eps=1e-8) for m in (G, D))
    ctx = StepContext(device, precision)
    stats = Collector(None)
    mix = torch.rand(batch, device=device)
    # The trainer's --compile: the same step with G and D through torch.compile (the penalty's call eager).
    G_run, D_run = compile_networks(G, D, loss, enabled=impl == "progan-compile", backend=compile_backend)

    def step() -> None:
        d_step(G_run, D_run, opt_D, loss, reals, None, z, stats, ctx, mix)
        g_step(G_run, D_run, opt_G, loss, z, None, stats, ctx)

    return step


def _time(step: Callable[[], None], device: torch.device, warmup: int, min_steps: int,
          min_seconds: float) -> float:
    for _ in range(warmup):
        step()
    _sync(device)
    times: list[float] = []
    t_end = time.perf_counter() + min_seconds
    while len(times) < min_steps or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]  # the median resists the other processes of a shared machine


class _FlopCount(TorchDispatchMode):
    """Sums the formulas of ``torch.utils.flop_counter`` over every op run. Unlike ``FlopCounterMode`` it
    tracks no modules, whose backward hooks break ``autograd.grad(create_graph=True)`` (the penalty)."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out


def _count_flops(step: Callable[[], None]) -> int:
    with _FlopCount() as counter:
        step()
    return counter.total


def run_bench(
    *,
    resolution: int = 32,
    channels: int = 3,
    fmaps: int = 128,
    latent: int = 128,
    batch: int = 64,
    precisions: tuple[str, ...] = ("fp32",),
    impls: tuple[str, ...] = ("progan",),
    loss: str = "wgan-gp",
    device: str | torch.device = "cpu",
    warmup: int = 2,
    min_steps: int = 5,
    min_seconds: float = 2.0,
    peak_size: int = 2048,
    peak_seconds: float = 1.5,
    progress: Callable[[BenchRow], None] | None = None,
    compile_backend: str = "inductor",
) -> list[BenchRow]:
    """Throughput table for every resolution from 4 up to ``resolution``, stable and fade-in phases.

    ``impls``: "progan" (the training step), "progan-channels-last" (the same under ``--channels-last``),
    "progan-compile" (the same under ``--compile``; its warm-up
    includes compiling, and its FLOPs are counted on the eager step: the model's FLOPs do not change) and
    "eager-baseline" (the straightforward step it is compared with).
    """
    device = torch.device(device)
    cfg = bench_network_config(resolution, channels, fmaps, latent)
    loss_cfg = LossConfig(kind=loss)
    peaks = {p: matmul_peak_gflops(p, device, peak_size, peak_seconds) for p in precisions}
    rows = []
    for level in range(2, cfg.resolution_log2 + 1):
        res = 1 << level
        base_lod = cfg.resolution_log2 - level
        for phase, lod in (("stable", float(base_lod)), ("fade", base_lod + 0.5)):
            if phase == "fade" and res == 4:
                continue  # the 4x4 level has nothing to fade from
            for precision in precisions:
                for impl in impls:
                    step = _make_step(cfg, lod, batch, precision, loss_cfg, impl, device, compile_backend)
                    counted = step if impl != "progan-compile" else \
                        _make_step(cfg, lod, batch, precision, loss_cfg, "progan", device)
                    flops = _count_flops(counted)
                    sec = _time(step, device, warmup, min_steps, min_seconds)
                    achieved = flops / sec / 1e9
                    row = BenchRow(res, phase, precision, impl, batch, batch / sec, sec, flops / batch / 1e9,
                                   achieved, peaks[precision], achieved / peaks[precision])
                    rows.append(row)
                    if progress:
                        progress(row)
    return rows


def rows_as_dicts(rows: list[BenchRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
