"""Each preset against the numbers of the configuration line it copies, transcribed here from the source.

Theano release (branch original-theano-version): config.py's base dicts (train / G / D / loss) and its
per-experiment ``if`` blocks; train.py's train_gan defaults (tick_kimg_default=50, tick_kimg_overrides,
image_snapshot_ticks=4, network_snapshot_ticks=40). TF release (master): config.py's preset lines with the
default "-fp32" line, train.py's train_progressive_gan / TrainingSchedule defaults, networks.py's D_paper
defaults. BigGAN-PyTorch: scripts/launch_cifar_ema.sh.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from progan.config_io import apply_override
from progan.errors import UserError
from progan.networks import Discriminator
from progan.presets import get_preset
from progan.training.schedule import check_batch_layout, schedule_resolutions

THEANO_TICKS = {"tick_kimg_base": 50, "tick_kimg": {32: 20, 64: 10, 128: 10, 256: 5, 512: 2, 1024: 1}}
THEANO_COMMON: dict[str, Any] = {
    # train = dict(G/D_learning_rate_max=0.001, adam 0.0 / 0.99 / 1e-8, G_smoothing=0.999,
    #              minibatch_default=16)
    "schedule.lr_base": 0.001, "schedule.minibatch_base": 16, "schedule.minibatch_repeats": 1,
    "optim.beta1": 0.0, "optim.beta2": 0.99, "optim.eps": 1e-8, "optim.ema_beta": 0.999, "optim.d_steps": 1,
    "optim.reset_on_lod_change": True,
    # loss = dict(type='iwass', iwass_lambda=10.0, iwass_epsilon=0.001, iwass_target=1.0)
    "loss.kind": "wgan-gp", "loss.gp_lambda": 10.0, "loss.drift": 0.001, "loss.gp_scale": "full",
    # D = dict(mbstat_avg='all'): the whole minibatch (16 >= any minibatch); non-fused D order
    "network.mbstd_group_size": 16, "network.fused_scale": False, "network.latent_size": 512,
    "network.fmap_decay": 1.0, "network.fmap_max": 512, "network.equalized_lr": True,
    "network.pixelnorm": True, "run.image_snap": 4, "run.snap": 40,
    **{f"schedule.{k}": v for k, v in THEANO_TICKS.items()},
}
TF_COMMON: dict[str, Any] = {
    # TrainingSchedule defaults; train_progressive_gan(minibatch_repeats=4, G_smoothing=0.999, D_repeats=1)
    "schedule.lr_base": 0.001, "schedule.lr_rampup_kimg": 0.0, "schedule.minibatch_repeats": 4,
    "schedule.tick_kimg_base": 160,
    "schedule.tick_kimg": {4: 160, 8: 140, 16: 120, 32: 100, 64: 80, 128: 60, 256: 40, 512: 20, 1024: 10},
    "optim.beta1": 0.0, "optim.beta2": 0.99, "optim.eps": 1e-8, "optim.ema_beta": 0.999,
    "optim.ema_update": "d_step", "optim.d_steps": 1, "optim.reset_on_lod_change": True,
    "loss.kind": "wgan-gp", "loss.gp_lambda": 10.0, "loss.gp_gamma": 1.0, "loss.drift": 0.001,
    "loss.gp_scale": "full", "network.fused_scale": True, "network.resolution": 1024,
    "network.fmap_base": 8192, "run.mirror": True, "run.image_snap": 1, "run.snap": 10,
}

SOURCES: dict[str, dict[str, Any]] = {
    # "celeb-hq-1024x1024": lod 800/800, total_kimg=19000, minibatch_overrides {256:14, 512:6, 1024:3}, mirror
    "paper-celebahq": THEANO_COMMON | {
        "network.resolution": 1024, "network.fmap_base": 8192, "schedule.lod_training_kimg": 800,
        "schedule.lod_transition_kimg": 800, "schedule.total_kimg": 19000, "schedule.lr_rampup_kimg": 40,
        "schedule.minibatch": {256: 14, 512: 6, 1024: 3}, "run.mirror": True, "loss.gp_gamma": 1.0},
    # "lsun-<name>-256x256-100k": 800/800, 20000, minibatch_overrides={}, mirror
    # (bedroom/dog: full set, no mirror)
    "paper-lsun": THEANO_COMMON | {
        "network.resolution": 256, "schedule.lod_training_kimg": 800, "schedule.lod_transition_kimg": 800,
        "schedule.total_kimg": 20000, "schedule.lr_rampup_kimg": 40, "schedule.minibatch": {},
        "run.mirror": True},
    "paper-lsun-nomirror": THEANO_COMMON | {
        "network.resolution": 256, "schedule.lod_training_kimg": 800, "schedule.lod_transition_kimg": 800,
        "schedule.total_kimg": 20000, "schedule.lr_rampup_kimg": 40, "schedule.minibatch": {},
        "run.mirror": False},
    # Sec. 6.1 block, full method: 800/800, rampup_kimg=0, total 10000, overrides {}, fmap_base 2048, mirror
    "celeba128": THEANO_COMMON | {
        "network.resolution": 128, "network.fmap_base": 2048, "schedule.lod_training_kimg": 800,
        "schedule.lod_transition_kimg": 800, "schedule.total_kimg": 10000, "schedule.lr_rampup_kimg": 0,
        "schedule.minibatch": {}, "run.mirror": True},
    # "cifar-10-32x32": 400/400, rampup 0, overrides {}, 20000, separate_funcs=False, fmap 4096/128,
    # latent 128, iwass_target 750, no mirror
    "paper-cifar10": THEANO_COMMON | {
        "network.resolution": 32, "network.fmap_base": 4096, "network.fmap_max": 128,
        "network.latent_size": 128, "schedule.lod_training_kimg": 400, "schedule.lod_transition_kimg": 400,
        "schedule.total_kimg": 20000, "schedule.lr_rampup_kimg": 0, "schedule.minibatch": {},
        "loss.gp_gamma": 750.0, "optim.joint_step": True, "run.mirror": False},
    # preset-v1-1gpu: D.mbstd_group_size=16; minibatch_base=16; {256: 14, 512: 6, 1024: 3}; 800/800; 19000
    "celebahq-v1-1gpu": TF_COMMON | {
        "network.mbstd_group_size": 16, "schedule.minibatch_base": 16,
        "schedule.minibatch": {256: 14, 512: 6, 1024: 3},
        "schedule.lod_training_kimg": 800, "schedule.lod_transition_kimg": 800, "schedule.total_kimg": 19000,
        "schedule.g_lr": {}, "schedule.d_lr": {}},
    "celebahq-v2-1gpu": TF_COMMON | {
        "network.mbstd_group_size": 4, "schedule.minibatch_base": 4,
        "schedule.minibatch": {4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4},
        "schedule.g_lr": {1024: 0.0015}, "schedule.d_lr": {1024: 0.0015}, "schedule.total_kimg": 12000,
        "schedule.lod_training_kimg": 600, "schedule.lod_transition_kimg": 600},
    "celebahq-v2-2gpus": TF_COMMON | {
        "network.mbstd_group_size": 4, "schedule.minibatch_base": 8,
        "schedule.minibatch": {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8},
        "schedule.g_lr": {512: 0.0015, 1024: 0.002}, "schedule.d_lr": {512: 0.0015, 1024: 0.002},
        "schedule.total_kimg": 12000},
    "celebahq-v2-4gpus": TF_COMMON | {
        "network.mbstd_group_size": 4, "schedule.minibatch_base": 16,
        "schedule.minibatch": {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16},
        "schedule.g_lr": {256: 0.0015, 512: 0.002, 1024: 0.003},
        "schedule.d_lr": {256: 0.0015, 512: 0.002, 1024: 0.003},
        "schedule.total_kimg": 12000},
    "celebahq-v2-8gpus": TF_COMMON | {
        "network.mbstd_group_size": 4, "schedule.minibatch_base": 32,
        "schedule.minibatch": {4: 512, 8: 256, 16: 128, 32: 64, 64: 32},
        "schedule.g_lr": {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003},
        "schedule.d_lr": {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}, "schedule.total_kimg": 12000},
    # launch_cifar_ema.sh: batch 50, num_D_steps 4, G_lr = D_lr = 2e-4, B2 0.999, ema_start 1000 G iterations
    # (x 4 x 50 images), 500 epochs of 50k; EMA once per G step (train_fns: ema.update after the G step).
    "biggan-cifar10": {
        "schedule.minibatch_base": 50, "optim.d_steps": 4, "schedule.g_lr_base": 2e-4,
        "schedule.d_lr_base": 2e-4, "optim.beta1": 0.0, "optim.beta2": 0.999, "optim.ema_beta": 0.9999,
        "optim.ema_update": "g_step", "optim.ema_start_kimg": 200, "schedule.total_kimg": 25000,
        "loss.kind": "hinge", "loss.ortho_form": "code"},
}


def _get(cfg: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg


@pytest.mark.parametrize("name", list(SOURCES))
def test_preset_equals_its_source(name: str) -> None:
    cfg = get_preset(name)
    wrong = {k: (_get(cfg, k), v) for k, v in SOURCES[name].items() if _get(cfg, k) != v}
    assert not wrong, f"{name}: (preset, source) differ for {wrong}"


WALKED = {"paper-celebahq": 1, "celebahq-v1-1gpu": 1, "celebahq-v2-1gpu": 1, "celebahq-v2-2gpus": 2,
          "celebahq-v2-4gpus": 4, "celebahq-v2-8gpus": 8}


@pytest.mark.parametrize("name, gpus", list(WALKED.items()))
def test_preset_schedule_walks_through_minibatch_stddev(name: str, gpus: int) -> None:
    """Every phase's per-rank minibatch through D (at a tiny width), at a stable and a fading lod."""
    cfg = get_preset(name)
    check_batch_layout(cfg, gpus)
    apply_override(cfg, "network.fmap_max=2")
    apply_override(cfg, "network.latent_size=4")
    D = Discriminator(cfg.network).requires_grad_(False)
    sched, full = cfg.schedule, cfg.network.resolution
    for res in schedule_resolutions(sched, full):
        per_rank = sched.minibatch.get(res, sched.minibatch_base) // gpus
        lod = math.log2(full // res)
        for phase_lod in ([lod, lod + 0.5] if res > 4 else [lod]):  # stable, and fading res in
            x = torch.randn(per_rank, 3, res, res)
            scores, _ = D(x, None, lod=phase_lod)
            assert scores.shape == (per_rank,) and torch.isfinite(scores).all()


def test_the_whole_minibatch_statistic_cannot_be_split_over_processes() -> None:
    with pytest.raises(UserError, match="at 4x4 the minibatch is 16.*whole minibatch"):
        check_batch_layout(get_preset("celebahq-v1-1gpu"), 2)
    with pytest.raises(UserError, match="does not split over 3 processes"):
        check_batch_layout(get_preset("celebahq-v2-1gpu"), 3)


def test_groups_of_four_do_not_fit_the_paper_minibatch_of_14() -> None:
    """The configuration that used to crash two days in (groups of 4, minibatch 14 at 256x256) is refused."""
    cfg = get_preset("paper-celebahq")
    apply_override(cfg, "network.mbstd_group_size=4")
    with pytest.raises(UserError, match="at 256x256 the minibatch is 14.*groups of 4"):
        check_batch_layout(cfg, 1)


def test_micro_batches_must_hold_whole_groups() -> None:
    cfg = get_preset("celebahq-v2-1gpu")
    apply_override(cfg, "compute.batch_per_device=6")
    with pytest.raises(UserError, match="batch_per_device 6 must be a multiple of 4"):
        check_batch_layout(cfg, 1)
    apply_override(cfg, "compute.batch_per_device=8")
    check_batch_layout(cfg, 1)
