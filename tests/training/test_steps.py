"""Steps: micro-batch accumulation equals one big batch; mixed precision keeps the penalty in fp32."""

from __future__ import annotations

import pytest
import torch

from progan.config import LossConfig, NetworkConfig
from progan.networks import build_discriminator, build_generator
from progan.training.stats import Collector
from progan.training.steps import StepContext, d_step, g_step


def _nets(lod: float = 0.5):
    torch.manual_seed(0)
    cfg = NetworkConfig(resolution=16, channels=3, fmap_base=64, fmap_max=16, latent_size=16,
                        mbstd_group_size=4)
    G, D = build_generator(cfg), build_discriminator(cfg)
    G.lod = D.lod = lod  # mid fade-in: both paths of the blend are exercised
    return G, D


def _grads(module: torch.nn.Module) -> list[torch.Tensor | None]:
    # Blocks that are not active at this lod get no gradient at all.
    return [None if p.grad is None else p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize("loss", ["wgan-gp", "hinge"])
def test_micro_batch_accumulation_matches_one_big_batch(loss: str) -> None:
    n = 16
    gen = torch.Generator().manual_seed(1)
    reals = torch.randn(n, 3, 16, 16, generator=gen).tanh()
    z = torch.randn(n, 16, generator=gen)
    mix = torch.rand(n, generator=gen)
    results = []
    for micro in (0, 4):
        G, D = _nets()
        ctx = StepContext(torch.device("cpu"), micro_batch=micro)
        opt_D = torch.optim.SGD(D.parameters(), lr=0.0)
        opt_G = torch.optim.SGD(G.parameters(), lr=0.0)
        stats = Collector(None)
        assert d_step(G, D, opt_D, LossConfig(kind=loss), reals, None, z, stats, ctx, mix)
        d_grads = _grads(D)
        assert g_step(G, D, opt_G, LossConfig(kind=loss), z, None, stats, ctx)
        results.append((d_grads, _grads(G)))
    (d_big, g_big), (d_acc, g_acc) = results
    assert [a is None for a in d_big + g_big] == [b is None for b in d_acc + g_acc]
    assert sum(a is not None for a in d_big) > 4
    for a, b in zip(d_big + g_big, d_acc + g_acc):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_bf16_autocast_step_is_finite_and_penalty_is_fp32(monkeypatch) -> None:
    from progan import losses

    seen = {}
    real_gp = losses._gradient_penalty

    def spy(*args, **kwargs):
        gp, norms = real_gp(*args, **kwargs)
        seen["dtype"] = gp.dtype
        return gp, norms

    monkeypatch.setattr(losses, "_gradient_penalty", spy)
    G, D = _nets(lod=0.0)
    ctx = StepContext(torch.device("cpu"), precision="bf16")
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.0, 0.99))
    stats = Collector(None)
    reals = torch.rand(8, 3, 16, 16) * 2 - 1
    assert d_step(G, D, opt_D, LossConfig(), reals, None, torch.randn(8, 16), stats, ctx)
    assert seen["dtype"] == torch.float32
    row = stats.tick({}, step=0)
    assert all(torch.isfinite(torch.tensor(v)) for v in row.values())
    assert all(p.dtype == torch.float32 for p in D.parameters())  # weights and Adam state stay fp32


def test_fp16_uses_dynamic_loss_scaling() -> None:
    ctx = StepContext(torch.device("cpu"), precision="fp16")
    assert set(ctx.scalers) == {"G", "D"} and ctx.scalers["D"].get_scale() == 65536.0


def test_d_step_takes_the_penalty_at_full_resolution_when_told_the_final_resolution() -> None:
    """At lod 1.5 (working 8x8 of a 16x16 net) the reported norm is the working one divided by 2."""
    gen = torch.Generator().manual_seed(3)
    reals = torch.randn(8, 3, 8, 8, generator=gen)
    z, mix = torch.randn(8, 16, generator=gen), torch.rand(8, generator=gen)
    norms = {}
    for full in (0, 16):
        G, D = _nets(lod=1.5)
        stats = Collector(None)
        ctx = StepContext(torch.device("cpu"), full_resolution=full)
        d_step(G, D, torch.optim.SGD(D.parameters(), lr=0.0), LossConfig(), reals, None, z, stats, ctx, mix)
        norms[full] = stats.tick({}, step=0)["gp/grad_norm"]
    assert norms[16] == pytest.approx(norms[0] / 2, rel=1e-5)


def test_joint_step_takes_both_gradients_at_the_weights_before_the_step() -> None:
    """Theano's separate_funcs=False: D's gradient of the D loss and G's of the G loss, one set of fakes."""
    from progan import losses
    from progan.training.steps import joint_step

    gen = torch.Generator().manual_seed(4)
    reals = torch.randn(8, 3, 16, 16, generator=gen).tanh()
    z, mix = torch.randn(8, 16, generator=gen), torch.rand(8, generator=gen)
    cfg = LossConfig()
    G, D = _nets(lod=0.0)
    fakes = G(z)
    d_ref = torch.autograd.grad(losses.d_loss(cfg, D, reals, fakes, None, mix=mix)[0], list(D.parameters()),
                                allow_unused=True)
    g_ref = torch.autograd.grad(losses.g_loss(cfg, D, fakes, None)[0], list(G.parameters()),
                                allow_unused=True)
    opt_D, opt_G = torch.optim.SGD(D.parameters(), lr=0.0), torch.optim.SGD(G.parameters(), lr=0.0)
    assert joint_step(G, D, opt_G, opt_D, cfg, reals, None, z, Collector(None),
                      StepContext(torch.device("cpu")), mix)
    for ref, got in ((d_ref, _grads(D)), (g_ref, _grads(G))):
        for a, b in zip(ref, got):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


def test_channels_last_steps_match_contiguous() -> None:
    """--channels-last: the same D and G steps in NHWC memory format give the same gradients."""
    gen = torch.Generator().manual_seed(3)
    reals = torch.randn(8, 3, 16, 16, generator=gen).tanh()
    z, mix = torch.randn(8, 16, generator=gen), torch.rand(8, generator=gen)
    results = []
    for fmt in (torch.contiguous_format, torch.channels_last):
        G, D = _nets()
        G, D = G.to(memory_format=fmt), D.to(memory_format=fmt)
        ctx = StepContext(torch.device("cpu"))
        opt_D, opt_G = torch.optim.SGD(D.parameters(), lr=0.0), torch.optim.SGD(G.parameters(), lr=0.0)
        assert d_step(G, D, opt_D, LossConfig(), reals.contiguous(memory_format=fmt), None, z,
                      Collector(None), ctx, mix)
        d_grads = _grads(D)
        assert g_step(G, D, opt_G, LossConfig(), z, None, Collector(None), ctx)
        results.append(d_grads + _grads(G))
    assert any(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
               for p in D.parameters())  # the second run really was NHWC
    for a, b in zip(*results):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)
