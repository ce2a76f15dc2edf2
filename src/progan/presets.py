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
    """CPU demo (ours): Fashion-MNIST 32x32 gray; ~15 minutes on 2 cores gives recognisable garments."""
    return TrainConfig(
        preset="fashion-mnist",
        network=NetworkConfig(resolution=32, channels=1, fmap_base=1024, fmap_max=128, latent_size=128),
        schedule=ScheduleConfig(
            lod_training_kimg=30, lod_transition_kimg=30, total_kimg=300,
            minibatch={4: 64, 8: 64, 16: 64, 32: 64}, lr_base=0.002,
            tick_kimg_base=10, tick_kimg={},
        ),
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


PRESETS: dict[str, Callable[[], TrainConfig]] = {
    "paper-celebahq": paper_celebahq,
    "paper-cifar10": paper_cifar10,
    "paper-lsun": paper_lsun,
    "celeba128": celeba128,
    "fashion-mnist": fashion_mnist,
    "tiny": tiny,
}


def get_preset(name: str) -> TrainConfig:
    """A fresh copy of preset ``name``; one-line error listing the presets if unknown."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise UserError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}") from None
