"""progan bench: FLOP counting follows torch's formulas, including the penalty's double backward."""

from __future__ import annotations

import pytest
import torch

from progan.bench.throughput import _count_flops, run_bench


def test_flop_count_of_a_matmul_forward_and_backward() -> None:
    w = torch.randn(64, 32, requires_grad=True)
    x = torch.randn(16, 64)
    # forward 2*16*64*32; backward: only dW (x needs no grad) = another 2*16*64*32.
    assert _count_flops(lambda: (x @ w).sum().backward()) == 2 * (2 * 16 * 64 * 32)


def test_flop_count_includes_double_backward() -> None:
    w = torch.randn(8, 8, requires_grad=True)

    def gp_like() -> None:
        x = torch.randn(4, 8, requires_grad=True)
        (g,) = torch.autograd.grad((x @ w).square().sum(), x, create_graph=True)
        g.square().sum().backward()

    single = _count_flops(lambda: (torch.randn(4, 8) @ w).square().sum().backward())
    assert _count_flops(gp_like) > 2 * single


def test_run_bench_rows_are_consistent() -> None:
    rows = run_bench(resolution=8, channels=1, fmaps=8, latent=8, batch=8, min_seconds=0.05, min_steps=2,
                     warmup=1, impls=("progan", "eager-baseline"), peak_size=128, peak_seconds=0.05)
    assert [(r.resolution, r.phase, r.impl) for r in rows] == [
        (4, "stable", "progan"), (4, "stable", "eager-baseline"),
        (8, "stable", "progan"), (8, "stable", "eager-baseline"),
        (8, "fade", "progan"), (8, "fade", "eager-baseline")]
    for r in rows:
        assert r.img_per_sec > 0 and r.gflop_per_img > 0
        assert abs(r.achieved_gflops - r.gflop_per_img * r.img_per_sec) < 1e-6 * r.achieved_gflops
    # The 8x8 level costs more per image than the 4x4 one.
    assert rows[2].gflop_per_img > rows[0].gflop_per_img


@pytest.mark.slow
def test_run_bench_has_compile_rows_with_the_eager_step_flops() -> None:
    rows = run_bench(resolution=4, channels=1, fmaps=8, latent=8, batch=8, min_seconds=0.05, min_steps=2,
                     warmup=1, impls=("progan", "progan-compile"), compile_backend="aot_eager", peak_size=128,
                     peak_seconds=0.05)
    assert [(r.resolution, r.phase, r.impl) for r in rows] == [(4, "stable", "progan"),
                                                              (4, "stable", "progan-compile")]
    assert rows[1].gflop_per_img == rows[0].gflop_per_img and rows[1].img_per_sec > 0
