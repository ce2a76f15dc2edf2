"""Mixed precision that fits the hardware: bf16/fp16 only where they are faster than fp32.

On a CPU, bf16 and fp16 autocast pay off only with matrix units for them (AVX-512 BF16 or AMX for bf16,
AVX-512 FP16 or AMX-FP16 for fp16); without them oneDNN emulates the products and a step can run an
order of magnitude slower than in fp32. So a low precision on such a CPU is refused with one line that
names the missing feature and the measured rates, and ``precision="auto"`` takes the fastest precision
measured on this machine now (on a GPU: bf16 where supported, else fp16).
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from progan.device import DTYPES
from progan.errors import UserError

# CPU flags (as /proc/cpuinfo names them) that give a precision its own matrix units.
CPU_FEATURES: dict[str, tuple[str, ...]] = {
    "bf16": ("avx512_bf16", "amx_bf16"),
    "fp16": ("avx512_fp16", "amx_fp16"),
}


def cpu_flags() -> set[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where that file does not exist)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def matmul_gflops(precision: str, device: torch.device, size: int = 512, seconds: float = 0.25) -> float:
    """A quick dense-matmul rate in ``precision`` on ``device`` (best of repeated ``size``-square
    products)."""
    a = torch.randn(size, size, device=device).to(DTYPES[precision])
    b = torch.randn(size, size, device=device).to(DTYPES[precision])
    a @ b
    best, deadline = 0.0, time.perf_counter() + seconds
    while True:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = max(best, 2 * size**3 / (time.perf_counter() - t0) / 1e9)
        if time.perf_counter() > deadline:
            return best


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> the fastest precision here; a bf16 / fp16 request on a CPU that computes it slower than
    fp32 is a :class:`~progan.errors.UserError` naming the missing CPU feature."""
    if device.type != "cpu":
        if precision != "auto":
            return precision
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp32":
        return precision
    if precision == "auto":
        rates = {p: matmul_gflops(p, device) for p in ("fp32", "bf16", "fp16")}
        return max(rates, key=lambda p: rates[p])
    flags = cpu_flags()
    if flags & set(CPU_FEATURES[precision]):
        return precision
    low, full = matmul_gflops(precision, device), matmul_gflops("fp32", device)
    if low >= full:
        return precision
    raise UserError(f"--precision {precision}: this CPU has no {precision} matrix units "
                    f"({' / '.join(CPU_FEATURES[precision])} missing), so {precision} runs at "
                    f"{low:.1f} GFLOP/s against {full:.1f} in fp32 here; use --precision fp32 (or auto)")
