"""The training loop of Karras et al. 2018 (TF release ``train.py``), with exact resume.

Time is counted in images shown to D (kimg). The schedule (:mod:`~progan.training.schedule`) gives lod,
minibatch and learning rates; a :class:`~progan.training.trainer.Trainer` runs the iterations on a
:class:`~progan.training.state.TrainState`; ticks group iterations for telemetry
(:mod:`~progan.training.report`), fakes grids, metrics (:mod:`~progan.training.outputs`) and snapshots.

Exact resume: every random number comes from generators whose states are snapshotted, and grids and
metrics run under ``torch.random.fork_rng`` so they never consume training randomness. On CPU a resumed
run ends bitwise equal to an uninterrupted one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from progan.config import TrainConfig
from progan.config_io import to_dict
from progan.data import Dataset
from progan.device import resolve_device
from progan.errors import UserError
from progan.numerics import training_numerics
from progan.threads import ThreadGovernor
from progan.training import budget
from progan.training import checkpoint as ckpt_io
from progan.training import distributed as dist_utils
from progan.training.outputs import RunOutputs
from progan.training.plot import plot_stats
from progan.training.precision import resolve_precision
from progan.training.report import ProgressBar, tick_line, tick_row
from progan.training.resolve import open_training_data, resolve_config
from progan.training.rundir import create_run_dir, resolve_resume, write_json
from progan.training.schedule import Phase, phase_at
from progan.training.snapshots import snapshot_name
from progan.training.state import TrainState
from progan.training.stats import Collector, truncate_stats
from progan.training.trainer import Trainer, TrainingError

__all__ = ["TrainingError", "train"]

log = logging.getLogger("progan.train")


@dataclass
class _Run:
    """One rank's view of a run: its configuration, place, folder, state and helpers."""

    cfg: TrainConfig
    world: dist_utils.World
    device: torch.device
    ds: Dataset
    run_dir: Path
    state: TrainState
    trainer: Trainer
    stats: Collector
    outputs: RunOutputs
    log_handler: logging.Handler | None
    governor: ThreadGovernor | None      # compute.threads = 0: threads follow the machine's load
    level_speeds: dict[str,
                       float]       # measured seconds per kimg by level ("16", fading "16f"), for the ETA


def train(cfg: TrainConfig, *, progress: bool = True) -> Path:
    """Train ProGAN as configured (Karras et al. 2018); returns the run folder.

    Resumes when ``cfg.run.resume`` is set ("latest", a run folder or a snapshot file); fine-tunes from
    ``cfg.run.init_from``. ``cfg`` itself is not changed.
    """
    threads = torch.get_num_threads()
    try:
        # TF32 / cuDNN autotuning / deterministic algorithms, restored after
        with training_numerics(cfg.compute):
            return _train(cfg, progress=progress)
    finally:
        torch.set_num_threads(threads)  # the setting is process-wide; callers keep theirs


def _run_dir(cfg: TrainConfig, world: dist_utils.World, resume: ckpt_io.Checkpoint | None,
             data_dir: Path) -> Path:
    if resume is not None:
        return resume.path.parent
    name = [""]
    if world.is_main:
        name[0] = str(create_run_dir(cfg.run.outdir, f"{cfg.preset}-{data_dir.name}"))
    if world.distributed:
        torch.distributed.broadcast_object_list(name, src=0)
    return Path(name[0])


def _file_logging(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "log.txt", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def _setup(requested: TrainConfig) -> _Run:
    world = dist_utils.world_from_env()
    governor = None
    if requested.compute.threads:
        torch.set_num_threads(requested.compute.threads)
    else:
        governor = ThreadGovernor()
        governor.settle()
        log.info(governor.describe())
    device = resolve_device(requested.run.device, world.local_rank)
    dist_utils.init_process_group(world, device, requested.compute.dist_timeout_s)
    resume = None
    if requested.run.resume:
        resume = ckpt_io.read_checkpoint(resolve_resume(requested.run.resume, requested.run.outdir))
    ds, data_dir = open_training_data(requested)
    cfg = resolve_config(requested, ds, data_dir, world.world_size)
    if cfg.compute.check_precision or cfg.compute.precision == "auto":
        cfg.compute.precision = _agreed_precision(cfg.compute.precision, device, world)
    run_dir = _run_dir(cfg, world, resume, data_dir)
    handler = _file_logging(run_dir) if world.is_main else None
    state = TrainState.build(cfg, ds, device, world)
    if resume is not None:
        state.load_state_dict(resume)
        log.info("resumed from %s at kimg %.1f", resume.path, state.progress.nimg / 1000)
        if world.is_main:
            truncate_stats(run_dir / "stats.jsonl", state.progress.nimg)
    elif cfg.run.init_from:
        state.load_weights(cfg.run.init_from)
        log.info("weights from %s; a new run starts at kimg 0", cfg.run.init_from)
    if cfg.run.minutes and not cfg.run.plan_speeds:
        _plan(cfg, state, device, world)
    if world.is_main:
        write_json(run_dir / "training_options.json", to_dict(cfg))
    stats = Collector(run_dir if world.is_main else None, distributed=world.distributed)
    trainer = Trainer(cfg, state, ds, device, world, stats)
    return _Run(cfg, world, device, ds, run_dir, state, trainer, stats, RunOutputs(cfg, ds, run_dir, device,
                                                                                   world),
                handler, governor, {})


def _agreed_precision(precision: str, device: torch.device, world: dist_utils.World) -> str:
    """:func:`~progan.training.precision.resolve_precision` on rank 0; its answer (or refusal) for every
    rank."""
    answer: list[object] = [None]
    if world.is_main:
        try:
            answer[0] = resolve_precision(precision, device)
        except UserError as e:
            answer[0] = e
    if world.distributed:
        torch.distributed.broadcast_object_list(answer, src=0)
    if isinstance(answer[0], UserError):
        raise answer[0]
    return str(answer[0])


def _plan(cfg: TrainConfig, state: TrainState, device: torch.device, world: dist_utils.World) -> None:
    """``run.minutes``: measure every level's speed and fit the schedule to the budget (in place)."""
    t0 = time.perf_counter()
    speeds = budget.probe_speeds(cfg, state.G, state.D, device, world)
    cfg.run.plan_speeds = speeds
    spent = time.perf_counter() - t0
    state.progress.train_seconds += spent
    budget.plan_schedule(cfg, speeds, cfg.run.minutes * 60 - spent, cfg.run.final_share)
    log.info("plan for %g minutes (speeds measured in %.1f s; %.0f%% at %dx%d):", cfg.run.minutes, spent,
             100 * cfg.run.final_share, cfg.network.resolution, cfg.network.resolution)
    for line in budget.describe_plan(cfg, speeds):
        log.info(line)


def _follow_budget(run: _Run, ph: Phase, tick_seconds: float, tick_kimg: float) -> None:
    """``run.minutes``: re-plan what is ahead at the speeds measured so far and move the end so the run ends
    on time; rank 0's clock decides, every rank takes its schedule."""
    cfg, st = run.cfg, run.state.progress
    sched = cfg.schedule
    if run.world.is_main:
        budget_s, left = cfg.run.minutes * 60, cfg.run.minutes * 60 - st.train_seconds
        speeds = _speeds(run, ph)
        if cfg.run.replan and speeds:
            budget.replan(cfg, st.nimg / 1000, left, budget_s, cfg.run.final_share, speeds)
        sched.total_kimg = budget.retarget_total_kimg(cfg, st.nimg / 1000, left,
                                                      tick_seconds / max(tick_kimg, 1e-9))
    if run.world.distributed:
        box = [(sched.training_kimg, sched.transition_kimg, sched.total_kimg)]
        torch.distributed.broadcast_object_list(box, src=0)
        sched.training_kimg, sched.transition_kimg, sched.total_kimg = box[0]


def _level_key(ph: Phase) -> str:
    return budget.speed_key(ph.resolution, ph.alpha < 1)


def _speeds(run: _Run, ph: Phase) -> dict[str, float]:
    """Seconds per kimg of every segment as the budget plans with them now, and the ETA shows them."""
    measured = budget.current_speeds(run.cfg.run.plan_speeds, run.level_speeds, _level_key(ph))
    return budget.fill_speeds(run.cfg, measured)


def _out_of_time(run: _Run, start_time: float) -> bool:
    """Past ``run.max_minutes``? Rank 0's clock decides for every rank, so all stop at the same tick."""
    flag = torch.tensor([time.perf_counter() - start_time >= run.cfg.run.max_minutes * 60],
                        dtype=torch.float32,
                        device=run.device)
    if run.world.distributed:
        torch.distributed.broadcast(flag, src=0)
    return bool(flag.item())


def _end_tick(run: _Run, ph: Phase, tick_time: float, done: bool, bar: ProgressBar) -> None:
    """Telemetry, metrics, grids and snapshots of the tick that just ended."""
    cfg, st, main = run.cfg, run.state.progress, run.world.is_main
    st.tick += 1
    row = tick_row(st, ph, tick_time, run.device) | run.state.augment.stats()
    snapshot = st.tick % cfg.run.snap == 0 or done
    if cfg.run.metrics and ((cfg.run.metrics_every and st.tick % cfg.run.metrics_every == 0)
                            or (not cfg.run.metrics_every and snapshot)):
        row.update(run.outputs.metrics(run.state.G_ema))
        dist_utils.wait_for_main(run.world)
    row = run.stats.tick(row, step=st.nimg)
    eta = budget.remaining_seconds(cfg, st.nimg / 1000, _speeds(run, ph))
    line = tick_line(row) + ("" if eta is None or done else f"  eta {_clock(eta)}")
    if main:
        log.info(line)
    bar.tick(row, line, eta)
    st.tick_start_nimg = st.nimg
    if main and (st.tick % cfg.run.image_snap == 0 or done):
        run.outputs.save_fakes(run.state.G_ema, st.nimg)
    if main and snapshot:
        run.state.save(run.run_dir / snapshot_name(st.nimg), cfg)
        plot_stats(run.run_dir / "stats.jsonl", run.run_dir / "plot.png")


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def _total_nimg(cfg: TrainConfig) -> int:
    return int(round(cfg.schedule.total_kimg * 1000))


def _loop(run: _Run, bar: ProgressBar) -> None:
    cfg, st = run.cfg, run.state.progress
    tick_start_time = start_time = mark = time.perf_counter()
    tick_levels: set[str] = set()  # a tick that spans two segments measures neither
    while st.nimg < _total_nimg(cfg):
        if run.governor is not None:
            run.governor.tick()
        if st.repeat == 0:
            st.phase_nimg = st.nimg
        ph = phase_at(st.phase_nimg, cfg.schedule, cfg.network.resolution)
        before = st.nimg
        run.trainer.iteration(ph)
        tick_levels.add(_level_key(ph))
        st.repeat = (st.repeat + 1) % cfg.schedule.minibatch_repeats
        bar.advance(st.nimg - before)
        done = st.nimg >= _total_nimg(cfg)
        if (st.repeat or st.nimg < st.tick_start_nimg + ph.tick_kimg * 1000) and not done:
            continue
        now = time.perf_counter()
        tick_time, tick_kimg = now - tick_start_time, (st.nimg - st.tick_start_nimg) / 1000
        st.train_seconds += now - mark
        mark = now
        if len(tick_levels) == 1:
            run.level_speeds[_level_key(ph)] = tick_time / max(tick_kimg, 1e-9)
        tick_levels.clear()
        if cfg.run.minutes and not done:
            _follow_budget(run, ph, tick_time, tick_kimg)
            bar.set_total(_total_nimg(cfg))
            done = st.nimg >= _total_nimg(cfg)
        if cfg.run.max_minutes:
            done = done or _out_of_time(run, start_time)
        _end_tick(run, ph, tick_time, done, bar)
        tick_start_time = time.perf_counter()
        if done:
            break


def _train(requested: TrainConfig, *, progress: bool) -> Path:
    run = _setup(requested)
    st = run.state.progress
    log.info("run folder %s; %d images of %dx%d; %s on %s", run.run_dir, len(run.ds), run.ds.resolution,
             run.ds.resolution, run.cfg.preset, run.device)
    if run.world.is_main:
        run.outputs.save_reals()
        if st.nimg == 0:
            # As the TF release: the grid before any step (with --init-from, the source's G_ema).
            run.outputs.save_fakes(run.state.G_ema, 0)
    bar = ProgressBar(int(round(run.cfg.schedule.total_kimg * 1000)), st.nimg, progress and run.world.is_main)
    try:
        _loop(run, bar)
    finally:
        bar.close()
        run.stats.close()
        if run.log_handler is not None:
            log.info("stopped at kimg %.3f: %s", st.nimg / 1000, run.run_dir)
            log.removeHandler(run.log_handler)
            run.log_handler.close()
        dist_utils.shutdown()
    return run.run_dir
