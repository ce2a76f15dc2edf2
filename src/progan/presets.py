"""Named training presets: data, not code paths.

Each preset is a function of no arguments returning a fresh :class:`TrainConfig`;
numbers come from Karras et al. 2018 (paper) and its TF release unless the
comment says otherwise (the CPU presets are ours).
"""

from __future__ import annotations

from typing import Any, Callable

from progan.config import (
    TF_TICK_KIMG,
    ComputeConfig,
    LossConfig,
    NetworkConfig,
    OptimConfig,
    RunConfig,
    ScheduleConfig,
    TrainConfig,
)
from progan.errors import UserError

# --- The paper's runs: the Theano release's config.py (branch original-theano-version), which produced the
# paper's tables. Shared by every run there: train_gan(minibatch_default=16, rampup_kimg=40, lr 0.001 for G
# and D, Adam(0, 0.99, 1e-8), G_smoothing=0.999, D_training_repeats=1), D_paper with mbstat_avg='all'
# (minibatch stddev over the whole minibatch: group 16 >= every minibatch below) and the non-fused D order
# (conv -> bias -> lrelu -> pool), loss iwass (lambda 10, epsilon 0.001, target 1) on full-resolution images,
# Adam state recreated at each lod change (each recompile calls lasagne's adam() anew), the schedule
# evaluated every minibatch, and its ticks: tick_kimg_default=50, tick_kimg_overrides, image and network
# snapshots every 4 and 40 ticks.
THEANO_TICK_KIMG: dict[int, float] = {32: 20, 64: 10, 128: 10, 256: 5, 512: 2, 1024: 1}


def _theano_run(
    preset: str,
    resolution: int,
    *,
    lod_kimg: float,
    total_kimg: float,
    mirror: bool,
    rampup_kimg: float = 40.0,
    minibatch: dict[int, int] | None = None,
    network: dict[str, Any] | None = None,
    loss: dict[str, Any] | None = None,
    joint_step: bool = False,
) -> TrainConfig:
    return TrainConfig(
        preset=preset,
        network=NetworkConfig(resolution=resolution, channels=3, fused_scale=False, mbstd_group_size=16,
                              **(network or {})),
        loss=LossConfig(kind="wgan-gp", gp_lambda=10.0, drift=0.001, gp_scale="full", **(loss or {})),
        schedule=ScheduleConfig(
            lod_training_kimg=lod_kimg, lod_transition_kimg=lod_kimg, total_kimg=total_kimg,
            minibatch_base=16,
            minibatch=dict(minibatch or {}), lr_base=0.001, lr_rampup_kimg=rampup_kimg, minibatch_repeats=1,
            tick_kimg_base=50, tick_kimg=dict(THEANO_TICK_KIMG),
        ),
        optim=OptimConfig(beta1=0.0, beta2=0.99, eps=1e-8, ema_beta=0.999, ema_update="d_step", d_steps=1,
                          reset_on_lod_change=True, joint_step=joint_step),
        run=RunConfig(mirror=mirror, image_snap=4, snap=40),
    )


def paper_celebahq() -> TrainConfig:
    """CelebA-HQ 1024x1024, the paper's Sec. 6.3 run (Theano config.py "celeb-hq-1024x1024"): 800k + 800k
    images per level, 19,000 kimg, minibatch 16 with train.minibatch_overrides {256: 14, 512: 6, 1024: 3},
    mirror."""
    return _theano_run("paper-celebahq", 1024, lod_kimg=800, total_kimg=19000, mirror=True,
                       minibatch={256: 14, 512: 6, 1024: 3})


def paper_lsun() -> TrainConfig:
    """An LSUN category at 256x256 from its 100k-image subset, the paper's Sec. 6.4 (Theano config.py
    "lsun-<category>-256x256-100k"): 800k + 800k, 20,000 kimg, minibatch 16 at every resolution
    (minibatch_overrides={}), mirror."""
    return _theano_run("paper-lsun", 256, lod_kimg=800, total_kimg=20000, mirror=True)


def paper_lsun_nomirror() -> TrainConfig:
    """LSUN bedroom or dog, full sets, at 256x256 (Theano config.py "lsun-bedroom-256x256" /
    "lsun-dog-256x256": mirror_augment=False); otherwise as :func:`paper_lsun`."""
    return _theano_run("paper-lsun-nomirror", 256, lod_kimg=800, total_kimg=20000, mirror=False)


def celeba128() -> TrainConfig:
    """CelebA 128x128 of the paper's Table 1, full method (Theano config.py Sec. 6.1 block, config
    "pixelwise-normalization": every contribution on): fmap_base 2048, 800k + 800k, no ramp-up, 10,000 kimg,
    minibatch 16 at every resolution, mirror."""
    return _theano_run("celeba128", 128, lod_kimg=800, total_kimg=10000, mirror=True, rampup_kimg=0,
                       network={"fmap_base": 2048})


def paper_cifar10() -> TrainConfig:
    """CIFAR-10 32x32, the paper's Sec. 6.5 run (Theano config.py "cifar-10-32x32"; unsupervised IS 8.80):
    400k + 400k, no ramp-up, 20,000 kimg, minibatch 16, fmap_base 4096 / fmap_max 128, latent 128, WGAN-GP
    target 750, no mirror, and G and D updated in one function (separate_funcs=False:
    ``optim.joint_step``)."""
    return _theano_run("paper-cifar10", 32, lod_kimg=400, total_kimg=20000, mirror=False, rampup_kimg=0,
                       network={"fmap_base": 4096, "fmap_max": 128, "latent_size": 128},
                       loss={"gp_gamma": 750.0}, joint_step=True)


# --- The TF release's CelebA-HQ presets (config.py "preset-v1-1gpu" and "preset-v2-{1,2,4,8}gpu(s)", with its
# default "-fp32" line). Shared: train_progressive_gan defaults (G_smoothing 0.999 with Gs updated by every D
# step, D_repeats 1, minibatch_repeats 4, reset_opt_for_new_lod, image snapshots every tick, network snapshots
# every 10), TrainingSchedule defaults (600k + 600k per level, lr 0.001, no ramp-up, its tick table), D_paper
# defaults (fused_scale=True, mbstd_group_size=4), D_wgangp_acgan on full-resolution images, mirror. The
# global minibatches are the release's for the GPU count in the name (its max_minibatch_per_gpu caps of the
# fp32
# line, {256: 16, 512: 8, 1024: 4} per GPU, never bind there); with progan they are split over however many
# processes run, so N GPUs run exactly the recipe.


def _tf_celebahq(preset: str, *, minibatch_base: int, minibatch: dict[int, int], lr: dict[int, float],
                 total_kimg: float, lod_kimg: float = 600.0, mbstd_group_size: int = 4) -> TrainConfig:
    return TrainConfig(
        preset=preset,
        network=NetworkConfig(resolution=1024, channels=3, fused_scale=True,
                              mbstd_group_size=mbstd_group_size),
        loss=LossConfig(kind="wgan-gp", gp_lambda=10.0, drift=0.001, gp_scale="full"),
        schedule=ScheduleConfig(
            lod_training_kimg=lod_kimg, lod_transition_kimg=lod_kimg, total_kimg=total_kimg,
            minibatch_base=minibatch_base, minibatch=dict(minibatch), lr_base=0.001, g_lr=dict(lr),
            d_lr=dict(lr),
            lr_rampup_kimg=0.0, minibatch_repeats=4, tick_kimg_base=160, tick_kimg=dict(TF_TICK_KIMG),
        ),
        optim=OptimConfig(beta1=0.0, beta2=0.99, eps=1e-8, ema_beta=0.999, ema_update="d_step", d_steps=1,
                          reset_on_lod_change=True),
        run=RunConfig(mirror=True, image_snap=1, snap=10),
    )


def celebahq_v1_1gpu() -> TrainConfig:
    """TF release "preset-v1-1gpu" (the paper's recipe): minibatch 16 with {256: 14, 512: 6, 1024: 3}, 800k +
    800k, 19,000 kimg, D.mbstd_group_size=16 (the whole minibatch)."""
    return _tf_celebahq("celebahq-v1-1gpu", minibatch_base=16, minibatch={256: 14, 512: 6, 1024: 3}, lr={},
                        total_kimg=19000, lod_kimg=800, mbstd_group_size=16)


def celebahq_v2_1gpu() -> TrainConfig:
    """TF release "preset-v2-1gpu" (its default): minibatch_base 4, {4: 128, 8: 128, 16: 128, 32: 64, 64: 32,
    128: 16, 256: 8, 512: 4}, lr {1024: 0.0015}, 12,000 kimg."""
    return _tf_celebahq("celebahq-v2-1gpu", minibatch_base=4,
                        minibatch={4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4},
                        lr={1024: 0.0015}, total_kimg=12000)


def celebahq_v2_2gpus() -> TrainConfig:
    """TF release "preset-v2-2gpus": minibatch_base 8, {4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16,
    256: 8}, lr {512: 0.0015, 1024: 0.002}, 12,000 kimg."""
    return _tf_celebahq("celebahq-v2-2gpus", minibatch_base=8,
                        minibatch={4: 256, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8},
                        lr={512: 0.0015, 1024: 0.002}, total_kimg=12000)


def celebahq_v2_4gpus() -> TrainConfig:
    """TF release "preset-v2-4gpus": minibatch_base 16, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16},
    lr {256: 0.0015, 512: 0.002, 1024: 0.003}, 12,000 kimg."""
    return _tf_celebahq("celebahq-v2-4gpus", minibatch_base=16,
                        minibatch={4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16},
                        lr={256: 0.0015, 512: 0.002, 1024: 0.003}, total_kimg=12000)


def celebahq_v2_8gpus() -> TrainConfig:
    """TF release "preset-v2-8gpus": minibatch_base 32, {4: 512, 8: 256, 16: 128, 32: 64, 64: 32},
    lr {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}, 12,000 kimg."""
    return _tf_celebahq("celebahq-v2-8gpus", minibatch_base=32, minibatch={4: 512, 8: 256, 16: 128, 32: 64,
                                                                           64: 32},
                        lr={128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}, total_kimg=12000)


def fashion_mnist() -> TrainConfig:
    """CPU demo (ours): Fashion-MNIST 32x32 gray, small nets (64 maps, 32 at 32x32), 20k + 20k images per
    level.

    With so few images, updates are what is scarce: minibatch 32 (the paper used 16) gives twice the steps
    of the 1-GPU table's 64. Its speed and quality are in benchmarks/ (bench_fashion_quality.py).

    Unlike the authors' releases, the gradient penalty is taken at the working resolution
    (``loss.gp_scale="working"``): on this preset it scored a better SWD than the releases'
    full-resolution scale (benchmarks/results/fashion-quality-gp-*.json). D's blocks pool after their
    activation (``fused_scale=False``, the Theano release's order), as in every measurement of this preset.
    """
    return TrainConfig(
        preset="fashion-mnist",
        network=NetworkConfig(resolution=32, channels=1, fmap_base=512, fmap_max=64, latent_size=128,
                              fused_scale=False),
        loss=LossConfig(gp_scale="working"),
        schedule=ScheduleConfig(
            lod_training_kimg=20, lod_transition_kimg=20, total_kimg=140, lr_base=0.0015,
            minibatch={}, minibatch_base=32, tick_kimg_base=4, tick_kimg={}, minibatch_repeats=1,
        ),
        # The paper's 0.999 per step averages over ~1000 steps: more than this run spends on a level,
        # so its samples would still be mostly initial weights. 0.995 averages over ~200 steps (6k images).
        optim=OptimConfig(ema_beta=0.995),
        run=RunConfig(snap=5, image_snap=1),
    )


def tiny() -> TrainConfig:
    """Seconds on a CPU, for tests and smoke runs (ours)."""
    return TrainConfig(
        preset="tiny",
        network=NetworkConfig(resolution=16, channels=1, fmap_base=64, fmap_max=16, latent_size=16),
        schedule=ScheduleConfig(
            lod_training_kimg=0.1, lod_transition_kimg=0.1, total_kimg=0.5,
            minibatch={}, minibatch_base=8, tick_kimg_base=0.1, tick_kimg={}, minibatch_repeats=1,
        ),
        run=RunConfig(snap=2, image_snap=1),
        # Layers this small gain nothing from a second thread, and lose a lot when the CPU is busy.
        compute=ComputeConfig(threads=1),
    )


def _biggan_network(resolution: int, channels: int, **kw: object) -> NetworkConfig:
    """BigGAN's choices (Brock et al. 2019): projection D, shared embedding + conditional BN, hierarchical z,
    SN in G and D, orthogonal init. ``num_classes`` is the data's (10 for both presets; the loop takes it from
    the data set, and a data set without labels is refused under projection conditioning)."""
    base: dict[str, object] = {
        "architecture": "biggan", "resolution": resolution, "channels": channels,
        "conditioning": "projection",
        "num_classes": 10, "hierarchical_z": True, "spectral_norm": "both", "ortho_init": True,
        "latent_size": 128,
        "shared_dim": 128, "equalized_lr": False, "pixelnorm": False, "normalize_latents": False,
    }
    return NetworkConfig(**(base | kw))  # type: ignore[arg-type]


def _no_growing(resolution: int, total_kimg: float, minibatch: int, g_lr: float, d_lr: float,
                tick_kimg: float) -> ScheduleConfig:
    # lod_*_kimg = 0: lod stays 0 (no growing); separate G/D base rates hold at any data resolution.
    return ScheduleConfig(
        initial_resolution=resolution, lod_training_kimg=0, lod_transition_kimg=0, total_kimg=total_kimg,
        minibatch={}, minibatch_base=minibatch, lr_base=d_lr, g_lr_base=g_lr, d_lr_base=d_lr,
        tick_kimg_base=tick_kimg, tick_kimg={}, minibatch_repeats=1,
    )


def biggan_cifar10() -> TrainConfig:
    """Class-conditional CIFAR-10 32x32 with the BigGAN architecture (ch 64, no attention). The training
    recipe is BigGAN-PyTorch's scripts/launch_cifar_ema.sh: hinge, batch 50, 4 D steps per G step, lr 2e-4
    for both, Adam (0, 0.999), 500 epochs (25,000 kimg), EMA 0.9999 updated once per G step (``ema.update``
    after each G step) from ``--ema_start 1000`` G iterations = 1000 x 4 x 50 images = 200 kimg. The model
    is the paper's ImageNet one (shared embedding, hierarchical z, orthogonal init, orthogonal
    regularisation 1e-4 in the code's form, ``utils.ortho``), where the script uses N(0, 0.02) init,
    per-BN class embeddings and no orthogonal regularisation: that mix is ours."""
    return TrainConfig(
        preset="biggan-cifar10",
        network=_biggan_network(32, 3, biggan_ch=64),
        loss=LossConfig(kind="hinge", ortho_reg=1e-4, ortho_form="code"),
        schedule=_no_growing(32, 25000, 50, 2e-4, 2e-4, 50),
        optim=OptimConfig(beta1=0.0, beta2=0.999, ema_beta=0.9999, ema_update="g_step", ema_start_kimg=200,
                          d_steps=4, reset_on_lod_change=False),
        run=RunConfig(mirror=True, snap=10),
    )


def biggan_fashion_mnist() -> TrainConfig:
    """CPU demo (ours): class-conditional Fashion-MNIST 32x32 with a narrow BigGAN (ch 8: 32 feature maps).
    Hinge, ortho reg 1e-4, Adam (0, 0.999); unlike BigGAN, one D step per G
    step and equal rates 2e-4 at batch 32, because a 20-minute CPU budget buys only a few thousand G
    updates; EMA 0.995 once per G step after 5 kimg (a horizon of ~200 steps, not BigGAN's 10,000). The
    orthogonal regularisation is the paper's eq. 3 (gradient 4 beta (W W^T * (1 - I)) W), the form this
    preset's benchmark (benchmarks/bench_biggan_fashion.py) was measured with."""
    return TrainConfig(
        preset="biggan-fashion-mnist",
        network=_biggan_network(32, 1, biggan_ch=8),
        loss=LossConfig(kind="hinge", ortho_reg=1e-4, ortho_form="paper"),
        schedule=_no_growing(32, 300, 32, 2e-4, 2e-4, 10),
        optim=OptimConfig(beta1=0.0, beta2=0.999, ema_beta=0.995, ema_update="g_step", ema_start_kimg=5,
                          d_steps=1, reset_on_lod_change=False),
        run=RunConfig(snap=5, image_snap=1),
        compute=ComputeConfig(threads=1),
    )


PRESETS: dict[str, Callable[[], TrainConfig]] = {
    "paper-celebahq": paper_celebahq,
    "paper-cifar10": paper_cifar10,
    "paper-lsun": paper_lsun,
    "paper-lsun-nomirror": paper_lsun_nomirror,
    "celeba128": celeba128,
    "celebahq-v1-1gpu": celebahq_v1_1gpu,
    "celebahq-v2-1gpu": celebahq_v2_1gpu,
    "celebahq-v2-2gpus": celebahq_v2_2gpus,
    "celebahq-v2-4gpus": celebahq_v2_4gpus,
    "celebahq-v2-8gpus": celebahq_v2_8gpus,
    "fashion-mnist": fashion_mnist,
    "tiny": tiny,
    "biggan-cifar10": biggan_cifar10,
    "biggan-fashion-mnist": biggan_fashion_mnist,
}


def get_preset(name: str) -> TrainConfig:
    """A fresh copy of preset ``name``; one-line error listing the presets if unknown."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
