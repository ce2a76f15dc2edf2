"""Progressive-growing schedule: lod, resolution, minibatch and learning rate as functions of kimg.

Follows ``TrainingSchedule`` of the ProGAN TF release (``train.py``): phases of
``lod_training_kimg`` stable images followed by ``lod_transition_kimg`` fade-in
images per resolution, starting at ``initial_resolution``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from progan.config import ScheduleConfig


@dataclass(frozen=True)
class Phase:
    """The schedule's answer at one point of training."""

    kimg: float
    lod: float              # 0 = full resolution; fractional while a new block fades in
    resolution: int         # resolution of the highest active block
    alpha: float            # weight of the newest block (1 = fully faded in)
    minibatch: int          # global minibatch
    g_lr: float
    d_lr: float
    tick_kimg: float


def lod_at(kimg: float, cfg: ScheduleConfig, resolution: int) -> float:
    """Level of detail after ``kimg`` thousand real images (TF release formula)."""
    phase_dur = cfg.lod_training_kimg + cfg.lod_transition_kimg
    if phase_dur <= 0:
        return 0.0  # no time per phase means no growing (the TF formula would stay at the lowest level)
    phase_idx = int(math.floor(kimg / phase_dur))
    phase_kimg = kimg - phase_idx * phase_dur
    lod = math.log2(resolution) - math.log2(cfg.initial_resolution) - phase_idx
    if cfg.lod_transition_kimg > 0:
        lod -= max(phase_kimg - cfg.lod_training_kimg, 0.0) / cfg.lod_transition_kimg
    return max(lod, 0.0)


def phase_at(nimg: int, cfg: ScheduleConfig, resolution: int) -> Phase:
    """The schedule after ``nimg`` real images shown to D."""
    kimg = nimg / 1000.0
    lod = lod_at(kimg, cfg, resolution)
    level = int(math.floor(lod))
    res = resolution >> level
    alpha = 1.0 - (lod - level)
    # The TF release ramps both rates up linearly from the start of training.
    rampup = min(kimg / cfg.lr_rampup_kimg, 1.0) if cfg.lr_rampup_kimg > 0 else 1.0
    return Phase(
        kimg=kimg,
        lod=lod,
        resolution=res,
        alpha=alpha,
        minibatch=cfg.minibatch.get(res, cfg.minibatch_base),
        g_lr=cfg.g_lr.get(res, cfg.g_lr_base or cfg.lr_base) * rampup,
        d_lr=cfg.d_lr.get(res, cfg.d_lr_base or cfg.lr_base) * rampup,
        tick_kimg=cfg.tick_kimg.get(res, cfg.tick_kimg_base),
    )
