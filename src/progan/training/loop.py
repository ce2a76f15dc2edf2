"""The training loop of Karras et al. 2018 (TF release ``train.py``), with exact resume.

Time is counted in images shown to D (kimg). Each iteration: the schedule gives
lod, minibatch and learning rates; D takes ``d_steps`` steps on real minibatches
(faded like the networks); G takes one step; the EMA of G follows. Ticks group
iterations for telemetry, fakes grids, snapshots and metrics.

Exact resume: every random number comes from generators whose states are saved
(global torch RNG for the penalty's interpolation, a dedicated generator for
latents and labels, the loader's position); snapshots and metrics run under
``torch.random.fork_rng`` so they never consume training randomness. On CPU a
resumed run ends bitwise equal to an uninterrupted one.
"""

from __future__ import annotations

import copy
import logging
import math
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from progan.config import TrainConfig
from progan.config_io import to_dict
from progan.data import Loader, default_dataset_dir, open_dataset, resolve_data
from progan.images import make_grid, save_image, to_uint8
from progan import losses
from progan.augment.runtime import build_augmenter
from progan.networks import build_discriminator, build_generator
from progan.training import checkpoint as ckpt_io
from progan.training.ema import update_ema
from progan.training.plot import plot_stats
from progan.training.rundir import create_run_dir, resolve_resume, write_json
from progan.training.schedule import Phase, phase_at
from progan.training.stats import Collector, truncate_stats
from progan.training import distributed as dist_utils
from progan.training.steps import StepContext, d_step, g_step

log = logging.getLogger("progan.train")


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. too many non-finite steps); the last checkpoint is intact."""


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when present; under torchrun each rank takes the GPU of its local rank."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            from progan.errors import UserError

            raise UserError("--device cuda: no CUDA device is available here; use --device cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    return device


@dataclass
class Progress:
    """Counters saved in every checkpoint."""

    nimg: int = 0
    tick: int = 0
    tick_start_nimg: int = 0
    prev_lod: float = -1.0
    skipped: int = 0
    consecutive_skips: int = 0
    lod: float = 0.0


class _Trainer:
    def __init__(self, cfg: TrainConfig, *, progress: bool) -> None:
        self.cfg = cfg
        self.show_progress = progress
        self.world = dist_utils.world_from_env()
        if cfg.compute.threads:
            torch.set_num_threads(cfg.compute.threads)
        self.device = resolve_device(cfg.run.device, self.world.local_rank)
        dist_utils.init_process_group(self.world, self.device, cfg.compute.dist_timeout_s)
        resume_ckpt = None
        if cfg.run.resume:
            resume_ckpt = ckpt_io.read_checkpoint(resolve_resume(cfg.run.resume, cfg.run.outdir))
        data_dir = resolve_data(cfg.run.data) if cfg.run.data else default_dataset_dir()
        self.ds = open_dataset(data_dir)
        cfg.run.data = str(data_dir)
        self._fit_network_to_data()
        cfg.validate()

        self.run_dir = self._make_run_dir(resume_ckpt, data_dir)
        self._log_handler: logging.Handler | None = None
        if self.world.is_main:
            write_json(self.run_dir / "training_options.json", to_dict(cfg))
            self._setup_logging()

        seed = cfg.run.seed
        torch.manual_seed(seed)
        self.gen = torch.Generator(device=self.device).manual_seed(seed)
        self.augment = build_augmenter(cfg, self.device, self.world)  # ADA / DiffAugment (a no-op when off)
        self.G = build_generator(cfg.network).to(self.device)
        self.D = build_discriminator(cfg.network).to(self.device)
        if cfg.compute.channels_last:
            self.G = self.G.to(memory_format=torch.channels_last)
            self.D = self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        # AOTAutograd cannot differentiate twice, and the gradient penalty / R1 differentiate through D twice.
        double_backward = (cfg.loss.kind == "wgan-gp" and cfg.loss.gp_lambda > 0) or cfg.loss.r1_gamma > 0
        self.G_run = self._maybe_compile(self.G)
        self.D_run = self.D if double_backward else self._maybe_compile(self.D)
        self.ctx = StepContext(self.device, cfg.compute.precision, cfg.compute.batch_per_device, self.world)
        if cfg.loss.ortho_reg > 0:
            beta = cfg.loss.ortho_reg
            self.ctx.g_regularizer = lambda G: losses.orthogonal_regularization(G, beta)
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.schedule.lr_base, betas=betas, eps=cfg.optim.eps)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.schedule.lr_base, betas=betas, eps=cfg.optim.eps)
        self.loader = Loader(self.ds, seed=seed, mirror=cfg.run.mirror, rank=self.world.rank,
                             world_size=self.world.world_size)
        self.labels_all = (
            torch.tensor(self.ds.labels, device=self.device)  # a copy: the memory map is read-only
            if cfg.network.num_classes > 0 and self.ds.labels is not None else None
        )
        self.state = Progress()
        self.total_nimg = int(round(cfg.schedule.total_kimg * 1000))
        if resume_ckpt is not None:
            self._restore(resume_ckpt)
        self.grid_z, self.grid_labels = self._grid_latents()
        if resume_ckpt is not None and self.world.is_main:
            truncate_stats(self.run_dir / "stats.jsonl", self.state.nimg)
        self.stats = Collector(self.run_dir if self.world.is_main else None, distributed=self.world.distributed)

    # -- setup -------------------------------------------------------------------------------------
    def _make_run_dir(self, resume_ckpt: ckpt_io.Checkpoint | None, data_dir: Path) -> Path:
        if resume_ckpt is not None:
            return resume_ckpt.path.parent
        name = [""]
        if self.world.is_main:
            name[0] = str(create_run_dir(self.cfg.run.outdir, f"{self.cfg.preset}-{data_dir.name}"))
        if self.world.distributed:
            torch.distributed.broadcast_object_list(name, src=0)
        return Path(name[0])

    def _maybe_compile(self, module: torch.nn.Module) -> torch.nn.Module:
        if not self.cfg.compute.compile:
            return module
        try:
            return torch.compile(module)  # type: ignore[return-value]
        except Exception as e:  # torch.compile is optional: an unsupported platform falls back to eager
            log.warning("torch.compile unavailable (%s); running eagerly", str(e).splitlines()[0])
            return module

    def _fit_network_to_data(self) -> None:
        net = self.cfg.network
        if net.resolution != self.ds.resolution or net.channels != self.ds.channels:
            log.info("network resolution/channels taken from the data set: %dx%d, %d channel(s)",
                     self.ds.resolution, self.ds.resolution, self.ds.channels)
        net.resolution = self.ds.resolution
        net.channels = self.ds.channels
        if net.conditioning != "none":
            if self.ds.num_classes == 0:
                from progan.errors import UserError

                raise UserError(f"conditioning {net.conditioning!r} needs labels, but {self.cfg.run.data} has none")
            net.num_classes = self.ds.num_classes
        else:
            net.num_classes = 0

    def _setup_logging(self) -> None:
        handler = logging.FileHandler(self.run_dir / "log.txt", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        self._log_handler = handler

    def _grid_latents(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        # A generator of its own, so that grids never touch the training randomness.
        g = torch.Generator().manual_seed(self.cfg.run.seed + 123456789)
        k = self.cfg.network.num_classes
        n = self.cfg.run.grid_size or (k * 8 if k else 64)
        z = torch.randn(n, self.cfg.network.latent_size, generator=g).to(self.device)
        labels = None
        if k:
            labels = (torch.arange(n) // max(1, n // k)).clamp(max=k - 1).to(self.device)
        return z, labels

    # -- state ------------------------------------------------------------------------------------
    def _rng_states(self) -> dict[str, torch.Tensor]:
        states = {"torch_cpu": torch.get_rng_state(), "latents": self.gen.get_state(), **self.augment.rng_states()}
        if torch.cuda.is_available():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                states[f"cuda{i}"] = s
        return states

    def _restore(self, ckpt: ckpt_io.Checkpoint) -> None:
        from progan.errors import CheckpointError

        try:
            self.G.load_state_dict(ckpt.module_state("G"))
            self.D.load_state_dict(ckpt.module_state("D"))
            self.G_ema.load_state_dict(ckpt.module_state("G_ema"))
            ckpt_io.restore_optimizer(self.opt_G, ckpt, "G")
            ckpt_io.restore_optimizer(self.opt_D, ckpt, "D")
        except (RuntimeError, KeyError, ValueError) as e:
            raise CheckpointError(
                f"{ckpt.path} does not match this configuration ({str(e).splitlines()[0][:150]})") from None
        torch.set_rng_state(ckpt.tensors["rng/torch_cpu"])
        self.gen.set_state(ckpt.tensors["rng/latents"])
        if torch.cuda.is_available():
            cuda = [ckpt.tensors[k] for k in sorted(ckpt.tensors) if k.startswith("rng/cuda")]
            if len(cuda) == torch.cuda.device_count():
                torch.cuda.set_rng_state_all(cuda)
        self.loader.load_state_dict(ckpt.extra["loader"])
        self.augment.restore(ckpt)
        self.state = Progress(**ckpt.progress["state"])
        log.info("resumed from %s at kimg %.1f", ckpt.path, self.state.nimg / 1000)

    def save_snapshot(self) -> Path:
        st = self.state
        path = self.run_dir / ckpt_io.snapshot_name(st.nimg)
        return ckpt_io.save_checkpoint(
            path,
            modules={"G": self.G, "D": self.D, "G_ema": self.G_ema},
            optimizers={"G": self.opt_G, "D": self.opt_D},
            rng=self._rng_states(),
            config=to_dict(self.cfg),
            progress={"kimg": st.nimg / 1000, "lod": st.lod, "state": st.__dict__},
            extra={"loader": self.loader.state_dict(), "augment": self.augment.state_dict()},
        )

    # -- one iteration ----------------------------------------------------------------------------
    def _set_phase(self, ph: Phase) -> None:
        st = self.state
        if self.cfg.optim.reset_on_lod_change and (
            math.floor(ph.lod) != math.floor(st.prev_lod) or math.ceil(ph.lod) != math.ceil(st.prev_lod)
        ):
            self.opt_G.state.clear()
            self.opt_D.state.clear()
        st.prev_lod = st.lod = ph.lod
        for g in self.opt_G.param_groups:
            g["lr"] = ph.g_lr
        for g in self.opt_D.param_groups:
            g["lr"] = ph.d_lr
        self.G.lod = self.D.lod = self.G_ema.lod = ph.lod

    def _local(self, x: torch.Tensor) -> torch.Tensor:
        # Everything random is drawn for the global batch and sliced, so that the union over ranks is
        # what a single process draws: N processes train exactly like one, and resume with any N.
        b = x.shape[0] // self.world.world_size
        return x[self.world.rank * b:(self.world.rank + 1) * b]

    def _random_labels(self, n: int) -> torch.Tensor | None:
        if self.labels_all is None:
            return None
        idx = torch.randint(len(self.labels_all), (n,), generator=self.gen, device=self.device)
        return self._local(self.labels_all[idx])

    def _latents(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.cfg.network.latent_size, generator=self.gen, device=self.device)
        return self._local(z)

    def _mix(self, n: int) -> torch.Tensor | None:
        if self.cfg.loss.kind != "wgan-gp" or self.cfg.loss.gp_lambda == 0:
            return None
        return self._local(torch.rand(n, 1, 1, 1, generator=self.gen, device=self.device))

    def iteration(self, ph: Phase) -> None:
        cfg, st = self.cfg, self.state
        self._set_phase(ph)
        ok = True
        for _ in range(cfg.optim.d_steps):
            reals, labels = self.loader.next(ph.minibatch, ph.resolution, alpha=ph.alpha, device=self.device)
            if self.labels_all is None:
                labels = None
            if cfg.compute.channels_last:
                reals = reals.contiguous(memory_format=torch.channels_last)
            z, mix = self._latents(ph.minibatch), self._mix(ph.minibatch)
            ok &= d_step(self.G_run, self.D_run, self.opt_D, cfg.loss, reals, labels, z, self.stats, self.ctx, mix,
                         augment=self.augment.for_d_step(ph.minibatch, ph.resolution))
            self.augment.minibatch_done(ph.minibatch)
            st.nimg += ph.minibatch
        z = self._latents(ph.minibatch)
        ok &= g_step(self.G_run, self.D_run, self.opt_G, cfg.loss, z, self._random_labels(ph.minibatch),
                     self.stats, self.ctx, augment=self.augment.for_g_step(ph.minibatch, ph.resolution))
        # G changes only in its own step, so d_steps EMA updates with the same G equal one with beta**d_steps.
        beta = cfg.optim.ema_beta ** cfg.optim.d_steps if st.nimg / 1000 >= cfg.optim.ema_start_kimg else 0.0
        update_ema(self.G_ema, self.G, beta)
        if ok:
            st.consecutive_skips = 0
        else:
            st.skipped += 1
            st.consecutive_skips += 1
            if st.consecutive_skips >= cfg.optim.max_consecutive_skips:
                raise TrainingError(
                    f"{st.consecutive_skips} consecutive steps had non-finite gradients at kimg {st.nimg / 1000:.1f}; "
                    f"stopped. Lower the learning rate or check the data; the last snapshot in {self.run_dir} is intact")

    def out_of_time(self, start_time: float) -> bool:
        """Past ``run.max_minutes``? Rank 0's clock decides for every rank, so all stop at the same tick."""
        flag = torch.tensor([time.perf_counter() - start_time >= self.cfg.run.max_minutes * 60], dtype=torch.float32,
                            device=self.device)
        if self.world.distributed:
            torch.distributed.broadcast(flag, src=0)
        return bool(flag.item())

    # -- tick maintenance -------------------------------------------------------------------------
    def save_fakes(self) -> Path:
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            with torch.no_grad():
                imgs = torch.cat([
                    self.G_ema(z, None if self.grid_labels is None else self.grid_labels[i:i + 64])
                    for i, z in zip(range(0, len(self.grid_z), 64), self.grid_z.split(64))
                ])
        cols = 8 if self.cfg.network.num_classes else None
        grid = make_grid(to_uint8(imgs), cols=cols, size=self.cfg.network.resolution)
        return save_image(grid, self.run_dir / f"fakes{self.state.nimg // 1000:06d}.png")

    def save_reals(self) -> None:
        path = self.run_dir / "reals.png"
        if path.exists():
            return
        res = self.cfg.network.resolution
        n = len(self.grid_z)
        imgs = self.ds.images(res)
        if self.ds.labels is not None and self.cfg.network.num_classes:
            # One row per class, like the fakes grid.
            order = [i for c in range(self.cfg.network.num_classes) for i in
                     (self.ds.labels == c).nonzero()[0][: max(1, n // self.cfg.network.num_classes)]]
            batch = imgs[order][:n]
            cols = 8
        else:
            batch, cols = imgs[: min(n, len(self.ds))], None
        save_image(make_grid(batch, cols=cols), path)

    def run_metrics(self) -> dict[str, float]:
        from progan.metrics import evaluate

        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            results = evaluate(self.G_ema, self.cfg.run.data, metrics=list(self.cfg.run.metrics),
                               num_images=self.cfg.run.metrics_num, seed=self.cfg.run.seed, device=self.device,
                               rank=self.world.rank, world_size=self.world.world_size)
        flat: dict[str, float] = {}
        for name, values in results.items():
            for key, value in values.items():
                flat[f"metric/{name}" if key in ("avg", "value", name) else f"metric/{name}/{key}"] = float(value)
        return flat


def _peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def train(cfg: TrainConfig, *, progress: bool = True) -> Path:
    """Train ProGAN as configured (Karras et al. 2018); returns the run folder.

    Resumes when ``cfg.run.resume`` is set ("latest", a run folder or a snapshot file).
    """
    threads = torch.get_num_threads()
    try:
        return _train(cfg, progress=progress)
    finally:
        torch.set_num_threads(threads)  # the setting is process-wide; callers keep theirs


def _train(cfg: TrainConfig, *, progress: bool) -> Path:
    t = _Trainer(cfg, progress=progress)
    main = t.world.is_main
    progress = progress and main
    st = t.state
    log.info("run folder %s; %d images of %dx%d; %s on %s", t.run_dir, len(t.ds), t.ds.resolution,
             t.ds.resolution, cfg.preset, t.device)
    if main:
        t.save_reals()
    bar = tqdm(total=round(t.total_nimg / 1000, 3), initial=round(st.nimg / 1000, 3), unit="kimg",
               disable=not progress, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n:.2f}/{total:.2f} kimg [{elapsed}<{remaining}{postfix}]")
    tick_start_time = start_time = time.perf_counter()
    try:
        while st.nimg < t.total_nimg:
            ph = phase_at(st.nimg, cfg.schedule, cfg.network.resolution)
            before = st.nimg
            t.iteration(ph)
            bar.update((st.nimg - before) / 1000)
            done = st.nimg >= t.total_nimg
            if st.nimg < st.tick_start_nimg + ph.tick_kimg * 1000 and not done:
                continue
            if cfg.run.max_minutes:
                done = done or t.out_of_time(start_time)
            # End of tick.
            tick_time = time.perf_counter() - tick_start_time
            st.tick += 1
            imgs = st.nimg - st.tick_start_nimg
            row: dict[str, Any] = {
                "tick": st.tick, "kimg": st.nimg / 1000, "lod": ph.lod, "resolution": ph.resolution,
                "alpha": ph.alpha, "minibatch": ph.minibatch, "img_per_sec": imgs / max(tick_time, 1e-9),
                "sec_per_kimg": tick_time / max(imgs / 1000, 1e-9), "sec_per_tick": tick_time,
                "skipped_steps": st.skipped, "mem_peak_gb": _peak_memory_gb(t.device), **t.augment.stats(),
            }
            snapshot = st.tick % cfg.run.snap == 0 or done
            if cfg.run.metrics and ((cfg.run.metrics_every and st.tick % cfg.run.metrics_every == 0)
                                    or (not cfg.run.metrics_every and snapshot)):
                row.update(t.run_metrics())  # every rank generates a share of the samples; rank 0 scores
                dist_utils.wait_for_main(t.world)
            row = t.stats.tick(row, step=st.nimg)
            bar.set_postfix_str(f", {ph.resolution}px a={ph.alpha:.2f}, {row['img_per_sec']:.0f} img/s")
            line = (f"tick {st.tick:<4d} kimg {st.nimg / 1000:<8.1f} lod {ph.lod:<5.2f} res {ph.resolution:<4d} "
                    f"mb {ph.minibatch:<4d} {row['img_per_sec']:7.1f} img/s  D {row.get('loss/D', float('nan')):+.3f} "
                    f"G {row.get('loss/G', float('nan')):+.3f}"
                    + (f"  p {row['augment/p']:.3f} rt {row.get('scores/real_sign', float('nan')):+.3f}"
                       if "augment/p" in row else "")
                    + "".join(f"  {k[7:]} {v:.4g}" for k, v in row.items() if k.startswith("metric/")))
            if main:
                log.info(line)
            if progress:
                bar.write(line)
            st.tick_start_nimg = st.nimg
            if main and (st.tick % cfg.run.image_snap == 0 or done):
                t.save_fakes()
            if main and snapshot:
                t.save_snapshot()
                plot_stats(t.run_dir / "stats.jsonl", t.run_dir / "plot.png")
            tick_start_time = time.perf_counter()
            if done:
                break
    finally:
        bar.close()
        t.stats.close()
        if t._log_handler is not None:
            log.info("stopped at kimg %.3f: %s", st.nimg / 1000, t.run_dir)
            log.removeHandler(t._log_handler)
            t._log_handler.close()
        dist_utils.shutdown()
    return t.run_dir

