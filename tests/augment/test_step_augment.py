"""Augmented D and G steps: parameters sliced per rank and micro-batch, so accumulation changes nothing."""

from __future__ import annotations

import pytest
import torch

from progan.augment.runtime import Augmenter
from progan.config import AugmentConfig, LossConfig, NetworkConfig
from progan.networks import build_discriminator, build_generator
from progan.training.distributed import World
from progan.training.stats import Collector
from progan.training.steps import StepContext, d_step, g_step


def _grads(module: torch.nn.Module) -> list[torch.Tensor | None]:
    return [None if p.grad is None else p.grad.clone() for p in module.parameters()]


@pytest.mark.parametrize("kind", ["ada", "diffaug"])
def test_augmented_steps_accumulate_like_one_batch_and_feed_r_t(kind: str) -> None:
    n = 16
    gen = torch.Generator().manual_seed(1)
    reals = torch.randn(n, 3, 16, 16, generator=gen).tanh()
    z = torch.randn(n, 16, generator=gen)
    cfg = AugmentConfig(kind=kind, p=0.8, pipeline="bgcfnc", interval=1, speed_kimg=1.0)
    results = []
    for micro in (0, 4):
        torch.manual_seed(0)
        net = NetworkConfig(resolution=16, channels=3, fmap_base=64, fmap_max=16, latent_size=16)
        G, D = build_generator(net), build_discriminator(net)
        aug = Augmenter(cfg, 3, seed=0, device=torch.device("cpu"), world=World())
        ctx = StepContext(torch.device("cpu"), micro_batch=micro)
        loss = LossConfig(kind="non-saturating", r1_gamma=1.0)
        stats = Collector(None)
        assert d_step(G, D, torch.optim.SGD(D.parameters(), lr=0.0), loss, reals, None, z, stats, ctx,
                      augment=aug.for_d_step(n, 16))
        aug.minibatch_done(n)
        d_grads = _grads(D)
        assert g_step(G, D, torch.optim.SGD(G.parameters(), lr=0.0), loss, z, None, stats, ctx,
                      augment=aug.for_g_step(n, 16))
        results.append((d_grads, _grads(G), aug.p, stats.tick({}, 0)))
    (d_big, g_big, p_big, row_big), (d_acc, g_acc, p_acc, row_acc) = results
    for a, b in zip(d_big + g_big, d_acc + g_acc):
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)
    assert p_big == p_acc
    if kind == "ada":
        assert p_big == pytest.approx(0.8 + (16 if row_big["scores/real_sign"] > 0.6 else -16) / 1000)
    assert row_big["scores/real_sign"] == row_acc["scores/real_sign"]


def test_off_gives_the_steps_no_augmentation() -> None:
    aug = Augmenter(AugmentConfig(), 1, seed=0, device=torch.device("cpu"), world=World())
    assert aug.for_d_step(8, 4) is None and aug.for_g_step(8, 4) is None
    assert aug.stats() == {} and aug.rng_states() == {} and aug.state_dict() is None


def test_ranks_get_their_rows_of_the_global_draw() -> None:
    cfg = AugmentConfig(kind="ada", p=1.0, target=0.0)
    whole = Augmenter(cfg, 1, 0, torch.device("cpu"), World()).for_d_step(8, 8)
    parts = [Augmenter(cfg, 1, 0, torch.device("cpu"), World(rank=r, world_size=2)).for_d_step(8, 8)
             for r in (0, 1)]
    assert whole is not None and all(p is not None for p in parts)
    for role in ("reals", "fakes"):
        joined = torch.cat([p.params[role].G_inv for p in parts if p is not None])
        assert torch.equal(joined, whole.params[role].G_inv)
