"""Named training presets: data, not code paths.

Each preset is a function of no arguments returning a fresh :class:`TrainConfig`;
numbers come from Karras et al. 2018 (paper) and its TF release unless the
comment says otherwise (the CPU presets are ours).
"""

from __future__ import annotations

from typing import Callable

from progan.config import (
    ComputeConfig,
    LossConfig,
    NetworkConfig,
    OptimConfig,
    RunConfig,
    ScheduleConfig,
    TrainConfig,
)
from progan.errors import UserError


def _paper_schedule(total_kimg: float, **kw: object) -> ScheduleConfig:
    # The paper grows every 800k images (fade) + 800k (stable); the TF release default is 600k/600k.
    return ScheduleConfig(lod_training_kimg=800, lod_transition_kimg=800, total_kimg=total_kimg, **kw)  # type: ignore[arg-type]


def paper_celebahq() -> TrainConfig:
    """CelebA-HQ 1024x1024 (paper Sec. 5/6): 19,000 kimg on 8 V100s; paper v1 minibatches."""
    minibatch = {res: 16 for res in (4, 8, 16, 32, 64, 128)} | {256: 14, 512: 6, 1024: 3}
    return TrainConfig(
        preset="paper-celebahq",
        network=NetworkConfig(resolution=1024, channels=3),
        schedule=_paper_schedule(19000, minibatch=minibatch),
        run=RunConfig(mirror=True),
    )


def paper_cifar10() -> TrainConfig:
    """CIFAR-10 32x32 (paper Sec. 6.4, App. A.3): smaller nets, latent 128, gamma 750 (unsupervised IS 8.80)."""
    return TrainConfig(
        preset="paper-cifar10",
        network=NetworkConfig(resolution=32, channels=3, fmap_base=4096, fmap_max=128, latent_size=128),
        loss=LossConfig(gp_gamma=750.0),
        schedule=_paper_schedule(12000),
    )


def paper_lsun() -> TrainConfig:
    """LSUN categories at 256x256 (paper Sec. 6.3), mirror augmentation."""
    return TrainConfig(
        preset="paper-lsun",
        network=NetworkConfig(resolution=256, channels=3),
        schedule=_paper_schedule(15000),
        run=RunConfig(mirror=True),
    )


def celeba128() -> TrainConfig:
    """CelebA 128x128 with the low-capacity nets of the paper's Table 1 (fmap_base 2048, 10M images)."""
    return TrainConfig(
        preset="celeba128",
        network=NetworkConfig(resolution=128, channels=3, fmap_base=2048),
        schedule=_paper_schedule(10000),
        run=RunConfig(mirror=True),
    )


def fashion_mnist() -> TrainConfig:
    """CPU demo (ours): Fashion-MNIST 32x32 gray, small nets (64 maps, 32 at 32x32), 20k + 20k images per level.

    Measured on an idle 2-core CPU: the first 100 kimg (4x4 to 16x16) take under 4 minutes, the 32x32
    level runs at about 107 img/s, so the whole 140 kimg takes about 10 minutes. With so few images, updates are what
    is scarce: minibatch 32 (the paper used 16) gives twice the steps of the 1-GPU table's 64.
    """
    return TrainConfig(
        preset="fashion-mnist",
        network=NetworkConfig(resolution=32, channels=1, fmap_base=512, fmap_max=64, latent_size=128),
        schedule=ScheduleConfig(
            lod_training_kimg=20, lod_transition_kimg=20, total_kimg=140, lr_base=0.0015,
            minibatch={}, minibatch_base=32, tick_kimg_base=4, tick_kimg={},
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
            minibatch={}, minibatch_base=8, tick_kimg_base=0.1, tick_kimg={},
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
        "architecture": "biggan", "resolution": resolution, "channels": channels, "conditioning": "projection",
        "num_classes": 10, "hierarchical_z": True, "spectral_norm": "both", "ortho_init": True, "latent_size": 128,
        "shared_dim": 128, "equalized_lr": False, "pixelnorm": False, "normalize_latents": False,
    }
    return NetworkConfig(**(base | kw))  # type: ignore[arg-type]


def _no_growing(resolution: int, total_kimg: float, minibatch: int, g_lr: float, d_lr: float,
                tick_kimg: float) -> ScheduleConfig:
    # lod_*_kimg = 0: lod stays 0 (no growing); separate G/D base rates hold at any data resolution.
    return ScheduleConfig(
        initial_resolution=resolution, lod_training_kimg=0, lod_transition_kimg=0, total_kimg=total_kimg,
        minibatch={}, minibatch_base=minibatch, lr_base=d_lr, g_lr_base=g_lr, d_lr_base=d_lr,
        tick_kimg_base=tick_kimg, tick_kimg={},
    )


def biggan_cifar10() -> TrainConfig:
    """Class-conditional CIFAR-10 32x32 with the BigGAN architecture (ch 64, no attention; ours, after
    BigGAN-PyTorch's CIFAR setting): hinge, 4 D steps per G step, lr 2e-4 for both, Adam (0, 0.999),
    batch 50, EMA 0.9999 after 50 kimg, orthogonal regularisation 1e-4 (the paper's beta)."""
    return TrainConfig(
        preset="biggan-cifar10",
        network=_biggan_network(32, 3, biggan_ch=64),
        loss=LossConfig(kind="hinge", ortho_reg=1e-4),
        schedule=_no_growing(32, 50000, 50, 2e-4, 2e-4, 50),
        optim=OptimConfig(beta1=0.0, beta2=0.999, ema_beta=0.9999, ema_start_kimg=50, d_steps=4,
                          reset_on_lod_change=False),
        run=RunConfig(mirror=True, snap=10),
    )


def biggan_fashion_mnist() -> TrainConfig:
    """CPU demo (ours): class-conditional Fashion-MNIST 32x32 with a narrow BigGAN (ch 8: 32 feature maps,
    ~100 img/s on one busy core). Hinge, ortho reg 1e-4, Adam (0, 0.999); unlike BigGAN, one D step per G
    step and equal rates 2e-4 at batch 32, because a 20-minute CPU budget buys only a few thousand G
    updates; EMA 0.995 after 5 kimg (a horizon of ~200 steps, not BigGAN's 10,000)."""
    return TrainConfig(
        preset="biggan-fashion-mnist",
        network=_biggan_network(32, 1, biggan_ch=8),
        loss=LossConfig(kind="hinge", ortho_reg=1e-4),
        schedule=_no_growing(32, 300, 32, 2e-4, 2e-4, 10),
        optim=OptimConfig(beta1=0.0, beta2=0.999, ema_beta=0.995, ema_start_kimg=5, d_steps=1,
                          reset_on_lod_change=False),
        run=RunConfig(snap=5, image_snap=1),
        compute=ComputeConfig(threads=1),
    )


PRESETS: dict[str, Callable[[], TrainConfig]] = {
    "paper-celebahq": paper_celebahq,
    "paper-cifar10": paper_cifar10,
    "paper-lsun": paper_lsun,
    "celeba128": celeba128,
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
