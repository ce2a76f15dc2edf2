"""ADA's p update (Karras et al. 2020, Sec. 3) on scripted discriminator outputs."""

from __future__ import annotations

import math

import torch

from progan.augment.controller import AdaController


def test_p_follows_the_sign_heuristic_on_a_scripted_sequence_of_d_outputs() -> None:
    target, speed, interval, batch = 0.6, 2.0, 3, 16
    ctrl = AdaController(0.0, target, speed, interval)
    gen = torch.Generator().manual_seed(0)
    p, history, expected = 0.0, [], []
    signs_since = []
    # Overfitting grows then recedes: the share of reals D scores positive goes 50% -> 100% -> 20%.
    shares = [0.5] * 6 + [1.0] * 30 + [0.2] * 30
    for step, share in enumerate(shares):
        scores = (torch.where(torch.rand(batch, generator=gen) < share, 1.0, -1.0)
                  * torch.rand(batch, generator=gen))
        for half in scores.chunk(2):   # two micro-batches
            ctrl.observe(torch.sign(half).mean(), len(half))
        signs_since.append(torch.sign(scores))
        updated = ctrl.minibatch_done(batch)
        if (step + 1) % interval == 0:
            assert updated
            signs = torch.cat(signs_since)
            rt = signs.sum().item() / len(signs)
            p = min(max(p + math.copysign(1, rt - target) * batch * interval / (speed * 1000), 0.0), 1.0)
            signs_since = []
            assert ctrl.last_rt == rt
        else:
            assert not updated
        history.append(ctrl.p)
        expected.append(p)
    assert history == expected
    assert max(history) > 0.1 and history[-1] < max(history)   # rose while D overfitted, fell after
    assert history[5] == 0.0                                      # r_t = 0 < target: p stays clipped at 0


def test_p_is_clipped_to_one_and_unchanged_exactly_at_the_target() -> None:
    ctrl = AdaController(0.99, 0.5, 0.001, 1)
    ctrl.observe(torch.tensor(1.0), 8)
    ctrl.minibatch_done(8)
    assert ctrl.p == 1.0
    ctrl.observe(torch.tensor(0.5), 8)   # r_t == target
    ctrl.minibatch_done(8)
    assert ctrl.p == 1.0


def test_state_round_trips_mid_interval() -> None:
    a = AdaController(0.25, 0.6, 1.0, 4)
    for _ in range(2):
        a.observe(torch.tensor(0.75), 8)
        a.minibatch_done(8)
    b = AdaController(0.0, 0.6, 1.0, 4)
    b.load_state_dict(a.state_dict())
    for c in (a, b):
        for _ in range(2):
            c.observe(torch.tensor(0.25), 8)
            c.minibatch_done(8)
    assert a.p == b.p == 0.25 - 32 / 1000  # r_t = (12 + 12 + 4 + 4) / 64 = 0.5 < 0.6
