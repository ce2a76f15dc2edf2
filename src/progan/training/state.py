"""Everything a training run carries from step to step, and its round trip through a checkpoint.

A :class:`TrainState` holds the networks (G, D and the averaged G_ema), both optimizers, the random
generators (a dedicated one for latents, labels and penalty mixing factors; the augmentation's; torch's
global one; CUDA's), the loader's position, ADA's p and the progress counters.
:meth:`TrainState.state_dict` is what a snapshot stores and :meth:`TrainState.load_state_dict` puts it
back, so a resumed run continues bitwise (on CPU) where the snapshot was taken.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from progan import importers
from progan.augment.runtime import Augmenter, build_augmenter
from progan.config import TrainConfig
from progan.config_io import to_dict
from progan.data import Dataset, Loader
from progan.errors import CheckpointError
from progan.networks import build_discriminator, build_generator
from progan.training import checkpoint as ckpt_io
from progan.training.distributed import World


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
    phase_nimg: int = 0      # where the schedule was last evaluated (every schedule.minibatch_repeats steps)
    repeat: int = 0          # minibatches since then
    train_seconds: float = 0.0  # wall time spent in this run so far (all sessions), for run.minutes


@dataclass
class TrainState:
    """Networks, optimizers, random generators, loader and progress of one rank."""

    G: nn.Module
    D: nn.Module
    G_ema: nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    gen: torch.Generator         # latents, labels, penalty mixing factors: drawn for the global batch
    loader: Loader
    progress: Progress
    augment: Augmenter           # ADA / DiffAugment: its generator and p (a no-op when off)

    @classmethod
    def build(cls, cfg: TrainConfig, ds: Dataset, device: torch.device, world: World) -> TrainState:
        """Fresh networks (seeded by ``run.seed``), Adam as the paper (Sec. A.1), the loader at its start."""
        torch.manual_seed(cfg.run.seed)
        gen = torch.Generator(device=device).manual_seed(cfg.run.seed)
        augment = build_augmenter(cfg, device, world)
        G = build_generator(cfg.network).to(device)
        D = build_discriminator(cfg.network).to(device)
        if cfg.compute.channels_last:
            # torch's stubs leave memory_format out of Module.to's overloads; it is a documented argument.
            G = G.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            D = D.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        G_ema = copy.deepcopy(G).eval().requires_grad_(False)
        betas = (cfg.optim.beta1, cfg.optim.beta2)
        opt_G = torch.optim.Adam(G.parameters(), lr=cfg.schedule.lr_base, betas=betas, eps=cfg.optim.eps)
        opt_D = torch.optim.Adam(D.parameters(), lr=cfg.schedule.lr_base, betas=betas, eps=cfg.optim.eps)
        prefetch = cfg.compute.prefetch == "on" or (cfg.compute.prefetch == "auto" and ds.resolution >= 128)
        loader = Loader(ds, seed=cfg.run.seed, mirror=cfg.run.mirror, rank=world.rank,
                        world_size=world.world_size,
                        prefetch=prefetch)
        return cls(G, D, G_ema, opt_G, opt_D, gen, loader, Progress(), augment)

    # -- checkpoints -------------------------------------------------------------------------------
    def rng_states(self) -> dict[str, torch.Tensor]:
        states = {"torch_cpu": torch.get_rng_state(), "latents": self.gen.get_state(),
                  **self.augment.rng_states()}
        if torch.cuda.is_available():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                states[f"cuda{i}"] = s
        return states

    def state_dict(self) -> dict[str, Any]:
        """The keyword arguments of :func:`progan.training.checkpoint.save_checkpoint` but the config."""
        p = self.progress
        return {
            "modules": {"G": self.G, "D": self.D, "G_ema": self.G_ema},
            "optimizers": {"G": self.opt_G, "D": self.opt_D},
            "rng": self.rng_states(),
            "progress": {"kimg": p.nimg / 1000, "lod": p.lod, "state": asdict(p)},
            "extra": {"loader": self.loader.state_dict(), "augment": self.augment.state_dict()},
        }

    def save(self, path: Path, cfg: TrainConfig) -> Path:
        return ckpt_io.save_checkpoint(path, config=to_dict(cfg), **self.state_dict())

    def load_state_dict(self, ckpt: ckpt_io.Checkpoint) -> None:
        """Continue exactly where ``ckpt`` was taken (weights, Adam moments, every generator, loader)."""
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
        self.progress = Progress(**ckpt.progress["state"])

    def load_weights(self, source: str) -> None:
        """Fine-tuning (``--init-from``): G, D and G_ema of a snapshot or of one of the authors' pickles;
        optimizers, generators, loader and progress stay fresh."""
        if importers.is_pickle_path(source):
            states = importers.read_pickle(source).states
        else:
            ckpt = ckpt_io.read_checkpoint(source, prefixes=("G", "D", "G_ema"))
            states = {name: ckpt.module_state(name) for name in ("G", "D", "G_ema")}
        try:
            for name, module in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
                module.load_state_dict(states[name])
        except (RuntimeError, KeyError) as e:
            raise CheckpointError(
                f"--init-from {source} does not fit this network ({str(e).splitlines()[0][:150]})") from None
