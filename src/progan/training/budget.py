"""A training budget in minutes: the schedule's kimg per level planned from the measured speed of each level.

kimg is the paper's unit and the right one for comparing runs, but nobody's deadline is in kimg: the same
preset takes ten minutes on one CPU and an hour on another, and a run stopped by the clock stops wherever
it is. ``run.minutes`` (``progan train --minutes N``) turns the budget into a schedule instead:

1. :func:`probe_speeds` times a few training steps at every resolution of the schedule (stable and fading),
   on throwaway copies of the networks and synthetic images, so the run's state and randomness are untouched.
2. :func:`plan_schedule` scales the preset's per-level kimg (fade-in and stable alike, keeping their ratio) so
   that growing to the final resolution takes ``1 - final_share`` of the budget, and sets ``total_kimg`` so
   that the final resolution gets the rest.
3. While the final level trains, :func:`retarget_total_kimg` moves ``total_kimg`` so that the run ends on
   time at the speed actually measured (another process starting, or stopping, changes it).

The plan is data in the configuration (``schedule.lod_*_kimg``, ``schedule.total_kimg``, ``run.plan_speeds``):
it is printed, saved in ``training_options.json`` and in every snapshot, and a resumed run continues it.
"""

from __future__ import annotations

import copy
import logging
import math
import time

import torch

from progan.config import TrainConfig
from progan.training.distributed import World
from progan.training.schedule import Segment, schedule_resolutions, segments
from progan.training.stats import Collector
from progan.training.steps import StepContext, d_step, g_step

log = logging.getLogger("progan.train")


def remaining_seconds(cfg: TrainConfig, kimg: float, speeds: dict[str, float]) -> float | None:
    """Seconds from ``kimg`` to ``schedule.total_kimg``: each remaining segment's kimg at that segment's
    seconds per kimg (``speeds["<res>"]`` stable, ``speeds["<res>f"]`` fading, as :func:`fill_speeds` gives
    them); None without speeds."""
    if not speeds:
        return None
    return remaining_until(cfg, kimg, cfg.schedule.total_kimg, speeds)


def speed_key(resolution: int, fading: bool) -> str:
    """The key of a segment's seconds per kimg in the speed tables: ``"32"`` stable, ``"32f"`` fading in."""
    return f"{resolution}{'f' if fading else ''}"


def fill_speeds(cfg: TrainConfig, known: dict[str, float]) -> dict[str, float]:
    """Seconds per kimg for every segment of the schedule: measured or planned where ``known``, else estimated
    from the nearest known level with the cost of a step in proportion to its pixels (a fading step as a
    stable one). Empty when nothing is known yet."""
    levels = schedule_resolutions(cfg.schedule, cfg.network.resolution)
    stable = {r: known[str(r)] for r in levels if str(r) in known}
    if not stable:
        stable = {r: known[f"{r}f"] for r in levels if f"{r}f" in known}
    if not stable:
        return {}
    out = dict(known)
    for r in levels:
        if str(r) not in out:
            near = min(stable, key=lambda k: abs(math.log2(k / r)))
            out[str(r)] = stable[near] * (r / near) ** 2
        out.setdefault(f"{r}f", out[str(r)])
    return out


def current_speeds(plan: dict[str, float], measured: dict[str, float], current: str) -> dict[str, float]:
    """Seconds per kimg to plan with now: what was measured, and the probe's numbers for the rest scaled by
    how the current level compares with its probe (another process starting slows every level alike)."""
    ratio = measured[current] / plan[current] if current in measured and plan.get(current) else 1.0
    return {k: v * ratio for k, v in plan.items()} | measured


def _step_seconds(G: torch.nn.Module, D: torch.nn.Module, cfg: TrainConfig, res: int, lod: float,
                  minibatch: int, device: torch.device, world: World, seconds: float) -> float:
    """Seconds per training iteration (d_steps D steps + one G step) at ``lod``, after one warm-up."""
    ctx = StepContext(device, cfg.compute.precision, cfg.compute.batch_per_device, world,
                      full_resolution=cfg.network.resolution)
    stats = Collector(None)
    gen = torch.Generator(device=device).manual_seed(0)
    n = minibatch // world.world_size
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-6)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-6)
    G.lod = D.lod = lod  # type: ignore[assignment]
    k = cfg.network.num_classes
    reals = torch.rand(n, cfg.network.channels, res, res, generator=gen, device=device) * 2 - 1
    labels = torch.randint(k, (n,), generator=gen, device=device) if k else None

    def iteration() -> None:
        for _ in range(cfg.optim.d_steps):
            z = torch.randn(n, cfg.network.latent_size, generator=gen, device=device)
            mix = torch.rand(n, 1, 1, 1, generator=gen, device=device)
            d_step(G, D, opt_d, cfg.loss, reals, labels, z, stats, ctx, mix)
        z = torch.randn(n, cfg.network.latent_size, generator=gen, device=device)
        g_step(G, D, opt_g, cfg.loss, z, labels, stats, ctx)

    iteration()
    steps, t0 = 0, time.perf_counter()
    while steps < 2 or time.perf_counter() - t0 < seconds:
        iteration()
        steps += 1
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - t0) / steps


def probe_speeds(cfg: TrainConfig, G: torch.nn.Module, D: torch.nn.Module, device: torch.device, world: World,
                 seconds: float = 0.6) -> dict[str, float]:
    """Seconds per thousand real images at every resolution of the schedule, stable (``"32"``) and fading
    (``"32f"``), timed on copies of ``G`` and ``D``. Under DDP every rank runs the same steps (their gradient
    all-reduces included) and rank 0's numbers are used by all."""
    sched, final = cfg.schedule, cfg.network.resolution
    speeds: dict[str, float] = {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        Gc, Dc = copy.deepcopy(G).train(), copy.deepcopy(D).train()
        for res in schedule_resolutions(sched, final):
            mb = sched.minibatch.get(res, sched.minibatch_base)
            lod = math.log2(final // res)
            per_kimg = 1000 / (mb * cfg.optim.d_steps)
            speeds[str(res)] = per_kimg * _step_seconds(Gc, Dc, cfg, res, lod, mb, device, world, seconds)
            if (lod < math.log2(final // schedule_resolutions(sched, final)[0])
                    and sched.lod_transition_kimg > 0):
                fade = _step_seconds(Gc, Dc, cfg, res, lod + 0.5, mb, device, world, seconds)
                speeds[f"{res}f"] = per_kimg * fade
    if world.distributed:
        box = [speeds]
        torch.distributed.broadcast_object_list(box, src=0)
        speeds = box[0]
    return speeds


def plan_schedule(cfg: TrainConfig, speeds: dict[str, float], budget_seconds: float,
                  final_share: float) -> None:
    """Fit ``cfg.schedule`` (in place) to ``budget_seconds`` from kimg 0: see :func:`replan`."""
    replan(cfg, 0.0, budget_seconds, budget_seconds, final_share, speeds)


def _unit_seconds(cfg: TrainConfig, seg: Segment, speeds: dict[str, float]) -> float:
    """Seconds of ``seg`` per unit of scale: its preset length (``lod_*_kimg``) at its speed."""
    sched = cfg.schedule
    base = sched.lod_transition_kimg if seg.fading else sched.lod_training_kimg
    return base * speeds[speed_key(seg.resolution, seg.fading)]


def replan(cfg: TrainConfig, kimg: float, seconds_left: float, budget_seconds: float, final_share: float,
           speeds: dict[str, float]) -> None:
    """Rescale what is still ahead of ``kimg`` (in place): the current level's stable phase if it is in one,
    and every later phase, all by one factor of the preset's lengths (``lod_*_kimg``, their ratio kept), so
    that the final resolution is reached with ``final_share`` of the budget left; ``total_kimg`` then spends
    that at the final level. A phase already fading in runs as planned (changing it would make lod jump).
    ``speeds`` are seconds per kimg for every segment (:func:`fill_speeds`)."""
    sched, final = cfg.schedule, cfg.network.resolution
    segs = segments(sched, final)
    if len(segs) == 1 or sched.lod_training_kimg + sched.lod_transition_kimg <= 0:
        sched.total_kimg = kimg + max(seconds_left, 0.0) / speeds[str(final)]
        return
    cur = next(i for i, seg in enumerate(segs) if kimg < seg.end_kimg)
    if segs[cur].resolution == final:
        return  # the final level: only its end moves (retarget_total_kimg)
    fixed, done_units = 0.0, 0.0
    first_free = cur + 1
    if segs[cur].fading:
        fixed = (segs[cur].end_kimg - kimg) * speeds[f"{segs[cur].resolution}f"]
    else:
        first_free = cur
        done_units = (kimg - segs[cur].start_kimg) * speeds[str(segs[cur].resolution)]
    growing = [seg for seg in segs[first_free:] if seg.resolution != final]
    units = sum(_unit_seconds(cfg, seg, speeds) for seg in growing)
    to_final = seconds_left - final_share * budget_seconds
    a = (to_final - fixed + done_units) / max(units, 1e-9)
    if not segs[cur].fading and sched.lod_training_kimg > 0:  # never shorter than what it has trained
        a = max(a, (kimg - segs[cur].start_kimg) / sched.lod_training_kimg)
    a = max(a, 1e-3)
    levels = schedule_resolutions(sched, final)
    for res in levels[levels.index(segs[first_free].resolution):-1]:
        if res != segs[cur].resolution or not segs[cur].fading:
            sched.training_kimg[res] = a * sched.lod_training_kimg
        if res != segs[cur].resolution:
            sched.transition_kimg[res] = a * sched.lod_transition_kimg
    for res in levels:  # the levels already behind keep what they trained
        sched.training_kimg.setdefault(res, sched.lod_training_kimg)
        sched.transition_kimg.setdefault(res, sched.lod_transition_kimg)
    # The final level: its fade-in scaled like the others but taking at most half of its share, then stable
    # training until the budget is spent.
    final_share_s = min(final_share * budget_seconds, seconds_left)
    sched.transition_kimg[final] = min(a * sched.lod_transition_kimg,
                                       0.5 * final_share_s / speeds[f"{final}f"])
    last = segments(sched, final)[-1]
    to_last = remaining_until(cfg, kimg, last.start_kimg, speeds)
    sched.total_kimg = last.start_kimg + max(seconds_left - to_last, 0.0) / speeds[str(final)]


def remaining_until(cfg: TrainConfig, kimg: float, end_kimg: float, speeds: dict[str, float]) -> float:
    """Seconds from ``kimg`` to ``end_kimg`` along the schedule at ``speeds`` (seconds per kimg by
    segment)."""
    seconds = 0.0
    for seg in segments(cfg.schedule, cfg.network.resolution):
        lo, hi = max(seg.start_kimg, kimg), min(seg.end_kimg, end_kimg)
        if hi > lo:
            seconds += (hi - lo) * speeds[speed_key(seg.resolution, seg.fading)]
    return seconds


def describe_plan(cfg: TrainConfig, speeds: dict[str, float]) -> list[str]:
    """The plan as lines: each segment's resolution, kimg and estimated minutes."""
    lines = []
    for seg in segments(cfg.schedule, cfg.network.resolution):
        end = min(seg.end_kimg, cfg.schedule.total_kimg)
        if end <= seg.start_kimg:
            continue
        key = speed_key(seg.resolution, seg.fading)
        minutes = (end - seg.start_kimg) * speeds.get(key, speeds[str(seg.resolution)]) / 60
        what = "fade-in" if seg.fading else "stable"
        lines.append(f"  {seg.resolution:>4}px {what:7s} kimg {seg.start_kimg:7.1f} -> {end:7.1f}  "
                     f"~{minutes:5.1f} min")
    return lines


def retarget_total_kimg(cfg: TrainConfig, kimg: float, seconds_left: float, seconds_per_kimg: float) -> float:
    """The ``total_kimg`` that ends the run on time at the measured speed, once the final level's fade-in is
    over (earlier, the schedule ahead is what it is); never before ``kimg``."""
    last = segments(cfg.schedule, cfg.network.resolution)[-1]
    if kimg < last.start_kimg or seconds_per_kimg <= 0:
        return cfg.schedule.total_kimg
    return max(kimg, kimg + max(seconds_left, 0.0) / seconds_per_kimg)
