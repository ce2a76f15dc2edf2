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
from progan.numerics import training_numerics
from progan.training import checkpoint as ckpt_io
from progan.training import distributed as dist_utils
from progan.training.outputs import RunOutputs
from progan.training.plot import plot_stats
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


def train(cfg: TrainConfig, *, progress: bool = True) -> Path:
    """Train ProGAN as configured (Karras et al. 2018); returns the run folder.

    Resumes when ``cfg.run.resume`` is set ("latest", a run folder or a snapshot file); fine-tunes from
    ``cfg.run.init_from``. ``cfg`` itself is not changed.
    """
    threads = torch.get_num_threads()
    try:
        with training_numerics(cfg.compute):  # TF32 / cuDNN autotuning / deterministic algorithms, restored after
            return _train(cfg, progress=progress)
    finally:
        torch.set_num_threads(threads)  # the setting is process-wide; callers keep theirs


def _run_dir(cfg: TrainConfig, world: dist_utils.World, resume: ckpt_io.Checkpoint | None, data_dir: Path) -> Path:
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
    if requested.compute.threads:
        torch.set_num_threads(requested.compute.threads)
    device = resolve_device(requested.run.device, world.local_rank)
    dist_utils.init_process_group(world, device, requested.compute.dist_timeout_s)
    resume = None
    if requested.run.resume:
        resume = ckpt_io.read_checkpoint(resolve_resume(requested.run.resume, requested.run.outdir))
    ds, data_dir = open_training_data(requested)
    cfg = resolve_config(requested, ds, data_dir, world.world_size)
    run_dir = _run_dir(cfg, world, resume, data_dir)
    handler = None
    if world.is_main:
        write_json(run_dir / "training_options.json", to_dict(cfg))
        handler = _file_logging(run_dir)
    state = TrainState.build(cfg, ds, device, world)
    if resume is not None:
        state.load_state_dict(resume)
        log.info("resumed from %s at kimg %.1f", resume.path, state.progress.nimg / 1000)
        if world.is_main:
            truncate_stats(run_dir / "stats.jsonl", state.progress.nimg)
    elif cfg.run.init_from:
        state.load_weights(cfg.run.init_from)
        log.info("weights from %s; a new run starts at kimg 0", cfg.run.init_from)
    stats = Collector(run_dir if world.is_main else None, distributed=world.distributed)
    trainer = Trainer(cfg, state, ds, device, world, stats)
    return _Run(cfg, world, device, ds, run_dir, state, trainer, stats, RunOutputs(cfg, ds, run_dir, device, world),
                handler)


def _out_of_time(run: _Run, start_time: float) -> bool:
    """Past ``run.max_minutes``? Rank 0's clock decides for every rank, so all stop at the same tick."""
    flag = torch.tensor([time.perf_counter() - start_time >= run.cfg.run.max_minutes * 60], dtype=torch.float32,
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
    line = tick_line(row)
    if main:
        log.info(line)
    bar.tick(row, line)
    st.tick_start_nimg = st.nimg
    if main and (st.tick % cfg.run.image_snap == 0 or done):
        run.outputs.save_fakes(run.state.G_ema, st.nimg)
    if main and snapshot:
        run.state.save(run.run_dir / snapshot_name(st.nimg), cfg)
        plot_stats(run.run_dir / "stats.jsonl", run.run_dir / "plot.png")


def _loop(run: _Run, bar: ProgressBar) -> None:
    cfg, st = run.cfg, run.state.progress
    total_nimg = int(round(cfg.schedule.total_kimg * 1000))
    tick_start_time = start_time = time.perf_counter()
    while st.nimg < total_nimg:
        if st.repeat == 0:
            st.phase_nimg = st.nimg
        ph = phase_at(st.phase_nimg, cfg.schedule, cfg.network.resolution)
        before = st.nimg
        run.trainer.iteration(ph)
        st.repeat = (st.repeat + 1) % cfg.schedule.minibatch_repeats
        bar.advance(st.nimg - before)
        done = st.nimg >= total_nimg
        if (st.repeat or st.nimg < st.tick_start_nimg + ph.tick_kimg * 1000) and not done:
            continue
        if cfg.run.max_minutes:
            done = done or _out_of_time(run, start_time)
        _end_tick(run, ph, time.perf_counter() - tick_start_time, done, bar)
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
