"""What a run leaves besides snapshots: the reals grid, the fakes grid of fixed latents, metrics."""

from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from progan.config import TrainConfig
from progan.data import Dataset
from progan.images import make_grid, save_image, to_uint8
from progan.metrics import evaluate
from progan.metrics.report import flatten_results
from progan.training.distributed import World


def grid_latents(cfg: TrainConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The fakes grid's fixed latents (and one row of labels per class): a generator of their own, so that
    grids never touch the training randomness."""
    g = torch.Generator().manual_seed(cfg.run.seed + 123456789)
    k = cfg.network.num_classes
    n = cfg.run.grid_size or (k * 8 if k else 64)
    z = torch.randn(n, cfg.network.latent_size, generator=g).to(device)
    labels = (torch.arange(n) // max(1, n // k)).clamp(max=k - 1).to(device) if k else None
    return z, labels


class RunOutputs:
    """Grids and metrics of one run folder, computed from G_ema without consuming training randomness."""

    def __init__(self, cfg: TrainConfig, ds: Dataset, run_dir: Path, device: torch.device,
                 world: World) -> None:
        self.cfg, self.ds, self.run_dir, self.device, self.world = cfg, ds, run_dir, device, world
        self.grid_z, self.grid_labels = grid_latents(cfg, device)

    def _fork_rng(self) -> contextlib.AbstractContextManager[None]:
        return torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else [])

    def save_fakes(self, G_ema: torch.nn.Module, nimg: int) -> Path:
        with self._fork_rng(), torch.no_grad():
            imgs = torch.cat([
                G_ema(z, None if self.grid_labels is None else self.grid_labels[i:i + 64])
                for i, z in zip(range(0, len(self.grid_z), 64), self.grid_z.split(64))
            ])
        cols = 8 if self.cfg.network.num_classes else None
        grid = make_grid(to_uint8(imgs), cols=cols, size=self.cfg.network.resolution)
        return save_image(grid, self.run_dir / f"fakes{nimg // 1000:06d}.png")

    def save_reals(self) -> None:
        path = self.run_dir / "reals.png"
        if path.exists():
            return
        k, n = self.cfg.network.num_classes, len(self.grid_z)
        imgs = self.ds.images(self.cfg.network.resolution)
        if self.ds.labels is not None and k:
            # One row per class, like the fakes grid.
            order = [i for c in range(k) for i in (self.ds.labels == c).nonzero()[0][: max(1, n // k)]]
            batch, cols = imgs[order][:n], 8
        else:
            batch, cols = imgs[: min(n, len(self.ds))], None
        save_image(make_grid(batch, cols=cols), path)

    def metrics(self, G_ema: torch.nn.Module) -> dict[str, float]:
        """``run.metrics`` of G_ema as stats keys (``metric/swd``, ``metric/swd/16``): every rank generates a
        share of the samples, rank 0 scores them."""
        assert self.cfg.run.data is not None  # resolve_config always sets it
        with self._fork_rng():
            results = evaluate(G_ema, self.cfg.run.data, metrics=list(self.cfg.run.metrics),
                               num_images=self.cfg.run.metrics_num, seed=self.cfg.run.seed,
                               device=self.device, rank=self.world.rank, world_size=self.world.world_size)
        return flatten_results(results, prefix="metric/")
