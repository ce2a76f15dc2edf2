"""Typed configuration: one dataclass per concern, presets as data, validation in one place.

Defaults follow Karras et al. 2018 and the authors' TF release (see
``shared/reference/progan.md``); BigGAN options follow Brock et al. 2019.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from progan.errors import UserError


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise UserError(message)


def is_power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


@dataclass
class NetworkConfig:
    """Architecture of the progressive G and D (ProGAN paper, Sec. 2-4 and App. A)."""

    resolution: int = 32            # final output resolution, power of two, 4..1024
    channels: int = 3               # image channels (1 gray, 3 RGB, or any N)
    num_classes: int = 0            # 0 = unconditional
    latent_size: int = 512          # z dimension
    fmap_base: int = 8192           # nf(s) = min(fmap_base / 2**(s*fmap_decay), fmap_max)
    fmap_decay: float = 1.0
    fmap_max: int = 512
    equalized_lr: bool = True       # run-time weight scaling by He's constant (Sec. 4.1)
    pixelnorm: bool = True          # pixelwise feature normalisation in G (Sec. 4.2)
    normalize_latents: bool = True  # pixel-normalise z before the first layer
    mbstd_group_size: int = 4       # minibatch stddev group (Sec. 3); 0 disables
    mbstd_num_features: int = 1
    conditioning: str = "none"      # "none" | "acgan" (D predicts labels, G concatenates a one-hot)

    def validate(self) -> None:
        _check(is_power_of_two(self.resolution) and 4 <= self.resolution <= 1024,
               f"resolution must be a power of two in 4..1024, got {self.resolution}")
        _check(self.channels >= 1, f"channels must be >= 1, got {self.channels}")
        _check(self.num_classes >= 0, f"num_classes must be >= 0, got {self.num_classes}")
        _check(self.latent_size >= 1, f"latent_size must be >= 1, got {self.latent_size}")
        _check(self.fmap_base >= 1 and self.fmap_max >= 1, "fmap_base and fmap_max must be >= 1")
        _check(self.fmap_decay >= 0, f"fmap_decay must be >= 0, got {self.fmap_decay}")
        _check(self.mbstd_group_size >= 0, f"mbstd_group_size must be >= 0 (0 disables), got {self.mbstd_group_size}")
        _check(self.mbstd_num_features >= 1, "mbstd_num_features must be >= 1")
        _check(self.conditioning in ("none", "acgan"),
               f"conditioning must be 'none' or 'acgan', got {self.conditioning!r}")
        _check(self.conditioning == "none" or self.num_classes > 0,
               "conditioning needs labels: num_classes must be > 0 (prepare the data set with --labels)")

    @property
    def resolution_log2(self) -> int:
        return int(math.log2(self.resolution))

    def nf(self, stage: int) -> int:
        """Feature maps at stage ``stage`` (stage 1 = 4x4 block), as ``nf()`` in the TF release."""
        return min(int(self.fmap_base / (2.0 ** (stage * self.fmap_decay))), self.fmap_max)


@dataclass
class LossConfig:
    """GAN objective. Default: WGAN-GP with drift, as the ProGAN paper (Sec. A.1)."""

    kind: str = "wgan-gp"           # "wgan-gp" | "minimax" | "non-saturating" | "lsgan" | "hinge"
    gp_lambda: float = 10.0         # gradient penalty weight (wgan-gp)
    gp_gamma: float = 1.0           # gradient penalty target norm (750 for CIFAR-10)
    drift: float = 0.001            # epsilon_drift * D(real)^2
    r1_gamma: float = 0.0           # optional R1 penalty on reals (0 disables)
    acgan_weight: float = 1.0       # weight of the AC-GAN label cross-entropy

    KINDS = ("wgan-gp", "minimax", "non-saturating", "lsgan", "hinge")

    def validate(self) -> None:
        _check(self.kind in self.KINDS, f"loss must be one of {', '.join(self.KINDS)}, got {self.kind!r}")
        for name in ("gp_lambda", "drift", "r1_gamma", "acgan_weight"):
            _check(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        _check(self.gp_gamma > 0, f"gp_gamma must be > 0, got {self.gp_gamma}")
