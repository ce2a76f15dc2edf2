"""The lod-versus-kimg schedule against the TF release's formula, written out by hand."""

from __future__ import annotations

import pytest

from progan.config import ScheduleConfig
from progan.training.schedule import lod_at, phase_at


@pytest.mark.parametrize(
    "kimg, lod",
    [
        (0, 3.0), (300, 3.0), (600, 3.0),          # 4x4 stable
        (750, 2.75), (900, 2.5), (1199.4, 2.001),  # fading 8x8 in
        (1200, 2.0), (1800, 2.0),                  # 8x8 stable
        (2100, 1.5), (2400, 1.0), (3000, 1.0),     # 16x16
        (3300, 0.5), (3600, 0.0), (10_000, 0.0),   # 32x32, then stays there
    ],
)
def test_lod_table_matches_tf_formula(kimg: float, lod: float) -> None:
    cfg = ScheduleConfig(lod_training_kimg=600, lod_transition_kimg=600)
    assert lod_at(kimg, cfg, 32) == pytest.approx(lod, abs=1e-9)


def test_initial_resolution_and_paper_800k_schedule() -> None:
    cfg = ScheduleConfig(initial_resolution=8, lod_training_kimg=800, lod_transition_kimg=800)
    # 1024 px starting at 8x8: lod starts at log2(1024) - log2(8) = 7 and loses 1 per 1600 kimg after 800.
    assert lod_at(0, cfg, 1024) == 7.0
    assert lod_at(800 + 400, cfg, 1024) == 6.5
    assert lod_at(800 + 1600 * 7, cfg, 1024) == 0.0


def test_phase_resolution_alpha_minibatch_and_rates() -> None:
    cfg = ScheduleConfig(lod_training_kimg=600, lod_transition_kimg=600, minibatch={4: 128, 8: 64},
                         minibatch_base=16, g_lr={16: 0.002}, lr_base=0.001)
    ph = phase_at(900_000, cfg, 32)  # lod 2.5: the 8x8 block is half faded in
    assert (ph.resolution, ph.alpha, ph.minibatch) == (8, 0.5, 64)
    assert (ph.g_lr, ph.d_lr) == (0.001, 0.001)
    ph = phase_at(2_400_000, cfg, 32)  # lod 1: 16x16 stable, table miss -> base minibatch
    assert (ph.resolution, ph.alpha, ph.minibatch, ph.g_lr) == (16, 1.0, 16, 0.002)
    assert phase_at(0, cfg, 32).resolution == 4


@pytest.mark.parametrize("kimg, factor", [(0, 0.006737947), (10, 0.0600547), (20, 0.2865048),
                                           (30, 0.7316156), (39.9, 0.9999688), (40, 1.0), (500, 1.0)])
def test_lr_rampup_is_the_theano_release_curve(kimg: float, factor: float) -> None:
    # Theano misc.rampup(40): exp(-5 (1 - t)^2), t = kimg / 40; values computed by hand
    # (exp(-5 * 0.75^2) etc.).
    cfg = ScheduleConfig(lr_base=0.001, lr_rampup_kimg=40)
    ph = phase_at(int(kimg * 1000), cfg, 32)
    assert ph.g_lr == pytest.approx(0.001 * factor, rel=1e-6)
    assert ph.d_lr == pytest.approx(0.001 * factor, rel=1e-6)


def test_zero_length_phases_jump_straight_to_full_resolution() -> None:
    cfg = ScheduleConfig(lod_training_kimg=0, lod_transition_kimg=0)
    assert lod_at(0, cfg, 64) == 0.0


def test_separate_g_and_d_base_rates_apply_at_every_resolution() -> None:
    cfg = ScheduleConfig(lr_base=0.001, g_lr_base=5e-5, d_lr_base=2e-4, g_lr={32: 1e-4})
    assert (phase_at(0, cfg, 64).g_lr, phase_at(0, cfg, 64).d_lr) == (5e-5, 2e-4)
    assert phase_at(10**9, cfg, 32).g_lr == 1e-4  # a table entry still wins
