"""Progressive-growing schedule: lod, resolution, minibatch and learning rate as functions of kimg.

Follows ``TrainingSchedule`` of the ProGAN TF release (``train.py``): phases of
``lod_training_kimg`` stable images followed by ``lod_transition_kimg`` fade-in
images per resolution, starting at ``initial_resolution``; the optional learning-rate
ramp-up is the Theano release's (``misc.rampup``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from progan.config import ScheduleConfig, TrainConfig
from progan.errors import UserError


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


@dataclass(frozen=True)
class Segment:
    """A stretch of the schedule at one working resolution, fading in or stable."""

    resolution: int
    fading: bool
    start_kimg: float
    end_kimg: float          # math.inf for the final level's stable phase


def level_kimg(cfg: ScheduleConfig, resolution: int) -> tuple[float, float]:
    """(fade-in, stable) kimg of the level of ``resolution``: its overrides, else the uniform lengths."""
    return (cfg.transition_kimg.get(resolution, cfg.lod_transition_kimg),
            cfg.training_kimg.get(resolution, cfg.lod_training_kimg))


def segments(cfg: ScheduleConfig, resolution: int) -> list[Segment]:
    """The schedule as consecutive segments: the first level stable, then each next level fading in and
    stable, the final level's stable phase open-ended (zero-length fades are left out)."""
    levels = schedule_resolutions(cfg, resolution)
    out, t = [], 0.0
    for i, res in enumerate(levels):
        fade, stable = level_kimg(cfg, res)
        if i > 0 and fade > 0:
            out.append(Segment(res, True, t, t + fade))
            t += fade
        end = math.inf if i == len(levels) - 1 else t + stable
        out.append(Segment(res, False, t, end))
        t = end
    return out


def lod_at(kimg: float, cfg: ScheduleConfig, resolution: int) -> float:
    """Level of detail after ``kimg`` thousand real images: the TF release's formula for uniform levels, the
    same walk through :func:`segments` when levels have their own lengths."""
    if cfg.training_kimg or cfg.transition_kimg:
        for seg in segments(cfg, resolution):
            if kimg < seg.end_kimg:
                lod = math.log2(resolution / seg.resolution)
                if seg.fading:
                    lod += 1.0 - (kimg - seg.start_kimg) / (seg.end_kimg - seg.start_kimg)
                return max(lod, 0.0)
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
    rampup = lr_rampup(kimg, cfg.lr_rampup_kimg)
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


def lr_rampup(kimg: float, rampup_kimg: float) -> float:
    """Learning-rate factor of the Theano release (``misc.rampup``, config.py ``rampup_kimg=40``):
    ``exp(-5 (1 - kimg / rampup_kimg)^2)`` before ``rampup_kimg``, then 1. The TF release has no ramp-up."""
    if rampup_kimg <= 0 or kimg >= rampup_kimg:
        return 1.0
    t = 1.0 - max(kimg, 0.0) / rampup_kimg
    return math.exp(-5.0 * t * t)


def schedule_resolutions(cfg: ScheduleConfig, resolution: int) -> list[int]:
    """Every working resolution the schedule visits, from ``initial_resolution`` (or the full resolution
    when nothing grows) up to ``resolution``."""
    if cfg.lod_training_kimg + cfg.lod_transition_kimg <= 0:
        return [resolution]
    start = min(cfg.initial_resolution, resolution)
    return [start << i for i in range(int(math.log2(resolution // start)) + 1)]


def check_batch_layout(cfg: TrainConfig, world_size: int) -> None:
    """Refuse, before training starts, a schedule whose minibatches cannot be laid out as one process would.

    For every resolution of the schedule: the global minibatch must split evenly over ``world_size`` ranks,
    and each rank's batch and micro-batch (``compute.batch_per_device``) must hold whole minibatch-stddev
    groups of ``min(mbstd_group_size, global minibatch)`` samples, the group one process would use (the
    paper's whole-minibatch statistic, ``mbstd_group_size`` >= minibatch, cannot be split at all).
    Otherwise D fails at that resolution (often days into a run) or computes a different statistic.
    """
    net, sched = cfg.network, cfg.schedule
    group = net.mbstd_group_size if net.architecture == "progan" and net.mbstd_group_size > 1 else 0
    micro = cfg.compute.batch_per_device
    for res in schedule_resolutions(sched, net.resolution):
        mb = sched.minibatch.get(res, sched.minibatch_base)
        where = f"at {res}x{res} the minibatch is {mb}"
        if mb % world_size:
            raise UserError(f"{where}, which does not split over {world_size} processes; "
                            f"set schedule.minibatch / minibatch_base to multiples of {world_size}")
        per_rank = mb // world_size
        if not group:
            continue
        g = min(group, mb)
        if per_rank % g:
            what = "the whole minibatch" if g == mb else f"groups of {g}"
            raise UserError(f"{where} and minibatch stddev takes {what}: each of the {world_size} "
                            f"process(es) gets {per_rank}; use a minibatch that is a multiple of "
                            f"{g * world_size} or set network.mbstd_group_size to a divisor of {per_rank}")
        if 0 < micro < per_rank and micro % g:
            raise UserError(f"{where} and minibatch stddev takes groups of {g}: compute.batch_per_device "
                            f"{micro} must be a multiple of {g}")
