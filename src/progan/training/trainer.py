"""One training iteration of Karras et al. 2018 (TF release ``train.py``): D steps, the G step, G's average.

Every random number is drawn from the state's generator for the global batch and sliced to this rank, so
the union over ranks is what one process draws: N processes train like one, and a run can resume with
any number of processes.
"""

from __future__ import annotations

import logging
import math

import torch

from progan import losses
from progan.config import TrainConfig
from progan.data import Dataset
from progan.training import equivalence
from progan.training.compiling import compile_networks
from progan.training.distributed import World
from progan.training.ema import update_ema
from progan.training.schedule import Phase
from progan.training.state import TrainState
from progan.training.stats import Collector
from progan.training.steps import StepContext, d_step, g_step, joint_step

log = logging.getLogger("progan.train")


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. too many non-finite steps); the last checkpoint is intact."""


class Trainer:
    """Runs iterations on a :class:`TrainState` as ``cfg`` says; reports losses to ``stats``."""

    def __init__(self, cfg: TrainConfig, state: TrainState, ds: Dataset, device: torch.device, world: World,
                 stats: Collector) -> None:
        self.cfg, self.state, self.device, self.world, self.stats = cfg, state, device, world, stats
        equivalence.prepare(state.G, state.D, cfg, world)  # cross-replica BN; warns what stays non-equivalent
        self.G_run, self.D_run = compile_networks(state.G, state.D, cfg.loss, enabled=cfg.compute.compile,
                                                  main=world.is_main)
        self.ctx = StepContext(device, cfg.compute.precision, cfg.compute.batch_per_device, world,
                               full_resolution=cfg.network.resolution)
        if cfg.loss.ortho_reg > 0:
            beta, form = cfg.loss.ortho_reg, cfg.loss.ortho_form
            self.ctx.g_regularizer = lambda G: losses.orthogonal_regularization(G, beta, form)
        self.labels_all = (
            torch.tensor(ds.labels, device=device)  # a copy: the memory map is read-only
            if cfg.network.num_classes > 0 and ds.labels is not None else None
        )

    # -- randomness, drawn for the global batch ----------------------------------------------------
    def _local(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0] // self.world.world_size
        return x[self.world.rank * b:(self.world.rank + 1) * b]

    def _random_labels(self, n: int) -> torch.Tensor | None:
        if self.labels_all is None:
            return None
        idx = torch.randint(len(self.labels_all), (n,), generator=self.state.gen, device=self.device)
        return self._local(self.labels_all[idx])

    def _latents(self, n: int) -> torch.Tensor:
        z = torch.randn(n, self.cfg.network.latent_size, generator=self.state.gen, device=self.device)
        return self._local(z)

    def _mix(self, n: int) -> torch.Tensor | None:
        if self.cfg.loss.kind != "wgan-gp" or self.cfg.loss.gp_lambda == 0:
            return None
        return self._local(torch.rand(n, 1, 1, 1, generator=self.state.gen, device=self.device))

    def _reals(self, ph: Phase) -> tuple[torch.Tensor, torch.Tensor | None]:
        reals, labels = self.state.loader.next(ph.minibatch, ph.resolution, alpha=ph.alpha,
                                               device=self.device)
        if self.labels_all is None:
            labels = None
        if self.cfg.compute.channels_last:
            reals = reals.contiguous(memory_format=torch.channels_last)
        return reals, labels

    # -- one iteration -----------------------------------------------------------------------------
    def set_phase(self, ph: Phase) -> None:
        """Rates and lod of ``ph``; Adam's state is reset whenever a block enters or finishes fading in."""
        st, s = self.state.progress, self.state
        if self.cfg.optim.reset_on_lod_change and (
            math.floor(ph.lod) != math.floor(st.prev_lod) or math.ceil(ph.lod) != math.ceil(st.prev_lod)
        ):
            s.opt_G.state.clear()
            s.opt_D.state.clear()
        st.prev_lod = st.lod = ph.lod
        for g in s.opt_G.param_groups:
            g["lr"] = ph.g_lr
        for g in s.opt_D.param_groups:
            g["lr"] = ph.d_lr
        s.G.lod = s.D.lod = s.G_ema.lod = ph.lod  # type: ignore[assignment]

    def _update_ema(self, updates: int) -> None:
        opt = self.cfg.optim
        # ``updates`` EMA steps towards the same G equal one with beta**updates.
        beta = opt.ema_beta ** updates if self.state.progress.nimg / 1000 >= opt.ema_start_kimg else 0.0
        update_ema(self.state.G_ema, self.state.G, beta)

    def _step_d(self, ph: Phase) -> bool:
        reals, labels = self._reals(ph)
        z, mix = self._latents(ph.minibatch), self._mix(ph.minibatch)
        ok = d_step(self.G_run, self.D_run, self.state.opt_D, self.cfg.loss, reals, labels, z, self.stats,
                    self.ctx, mix, augment=self.state.augment.for_d_step(ph.minibatch, ph.resolution))
        self.state.augment.minibatch_done(ph.minibatch)
        self.state.progress.nimg += ph.minibatch
        return ok

    def _step_joint(self, ph: Phase) -> bool:
        reals, labels = self._reals(ph)
        z, mix = self._latents(ph.minibatch), self._mix(ph.minibatch)
        self._update_ema(1)  # the Theano function updates Gs from G's weights before the step
        ok = joint_step(self.G_run, self.D_run, self.state.opt_G, self.state.opt_D, self.cfg.loss, reals,
                        labels,
                        z, self.stats, self.ctx, mix,
                        augment=self.state.augment.for_d_step(ph.minibatch, ph.resolution))
        self.state.augment.minibatch_done(ph.minibatch)
        self.state.progress.nimg += ph.minibatch
        return ok

    def iteration(self, ph: Phase) -> None:
        """``d_steps`` D steps and one G step (or one joint step), G_ema's update, skip accounting."""
        cfg, st = self.cfg, self.state.progress
        self.set_phase(ph)
        if cfg.optim.joint_step:
            ok = self._step_joint(ph)
        else:
            ok = all([self._step_d(ph) for _ in range(cfg.optim.d_steps)])
            if cfg.optim.ema_update == "d_step":
                self._update_ema(cfg.optim.d_steps)  # TF: Gs_update_op runs with each D step, before G's step
            z = self._latents(ph.minibatch)
            ok &= g_step(self.G_run, self.D_run, self.state.opt_G, cfg.loss, z,
                         self._random_labels(ph.minibatch),
                         self.stats, self.ctx,
                         augment=self.state.augment.for_g_step(ph.minibatch, ph.resolution))
            if cfg.optim.ema_update == "g_step":
                self._update_ema(1)
        if ok:
            st.consecutive_skips = 0
            return
        st.skipped += 1
        st.consecutive_skips += 1
        if st.consecutive_skips >= cfg.optim.max_consecutive_skips:
            raise TrainingError(
                f"{st.consecutive_skips} consecutive steps had non-finite gradients at kimg "
                f"{st.nimg / 1000:.1f}; stopped. Lower the learning rate or check the data; the last "
                "snapshot is intact")
