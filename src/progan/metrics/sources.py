"""The two image sets a metric compares: a seeded subset of a prepared data set and a generator's samples."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from progan.errors import UserError
from progan.metrics._images import ImageSource

__all__ = ["RealSet", "open_reals", "generate_images", "truncated_normal"]


@dataclass
class RealSet:
    """Seeded, disjoint-able selections of one level of a prepared data set."""

    dataset: Any          # progan.data Dataset
    resolution: int

    @property
    def fingerprint(self) -> str:
        """Hash of the data set's content checksums (its path and size if it has none)."""
        meta = getattr(self.dataset, "meta", None) or {}
        sums = [str(lv.get("sha256", "")) for lv in meta.get("levels", [])]
        if meta.get("labels"):
            sums.append(str(meta["labels"].get("sha256", "")))
        if not any(sums):
            sums = [str(getattr(self.dataset, "path", "")), str(len(self.dataset))]
        return hashlib.sha256("|".join(sums).encode()).hexdigest()[:16]

    def select(self, num: int, seed: int, part: int | None = None) -> tuple[ImageSource, np.ndarray | None]:
        """``num`` images (all if fewer), or with ``part`` 0/1 one of two disjoint halves; with labels."""
        n_total = len(self.dataset)
        rng = np.random.default_rng(seed)
        if part is None:
            idx = np.arange(n_total) if num >= n_total else np.sort(rng.choice(n_total, num, replace=False))
        else:
            half = min(num, n_total // 2)
            if half < 2:
                raise UserError(f"real-vs-real needs at least 4 images, the data set has {n_total}")
            perm = rng.permutation(n_total)
            idx = np.sort(perm[part * half : (part + 1) * half])
        images = self.dataset.images(self.resolution)
        labels = self.dataset.labels
        return ImageSource(images, idx), (None if labels is None else np.asarray(labels[idx], dtype=np.int64))


def open_reals(data_dir: str, resolution: int) -> RealSet:
    from progan.data.dataset import open_dataset

    return RealSet(open_dataset(data_dir), resolution)


def truncated_normal(shape: tuple[int, ...], truncation: float | None, gen: torch.Generator) -> torch.Tensor:
    """N(0, I) latents; with ``truncation`` T, entries with |z| > T are redrawn (BigGAN's truncation trick,
    :func:`progan.sampling.latents.truncated_normal`)."""
    if truncation is None:
        return torch.randn(shape, generator=gen)
    from progan.sampling.latents import truncated_normal as _truncated

    return _truncated(shape, truncation, generator=gen)


def _device_of(G: torch.nn.Module, fallback: torch.device) -> torch.device:
    p = next(G.parameters(), None)
    return p.device if p is not None else fallback


def generate_images(
    G: torch.nn.Module,
    num: int,
    *,
    seed: int = 0,
    device: "str | torch.device" = "cpu",
    batch_size: int = 64,
    truncation: float | None = None,
    label_pool: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``num`` uint8 [N, C, R, R] samples of G at its current lod, and their labels (conditional G).

    Labels are drawn (seeded) from ``label_pool``, e.g. the data set's labels, so classes appear as often
    as in the data. G's train/eval mode is restored afterwards.
    """
    dev = _device_of(G, torch.device(device))
    gen = torch.Generator().manual_seed(int(seed))
    num_classes = int(getattr(G, "num_classes", 0) or 0)
    labels = None
    if num_classes > 0:
        rng = np.random.default_rng(seed)
        labels = rng.choice(label_pool, num) if label_pool is not None else rng.integers(0, num_classes, num)
        labels = labels.astype(np.int64)
    res, ch = int(G.output_resolution), int(G.channels)
    out = np.empty((num, ch, res, res), np.uint8)
    was_training = G.training
    G.eval()
    try:
        with torch.no_grad():
            for start in range(0, num, batch_size):
                b = min(batch_size, num - start)
                z = truncated_normal((b, int(G.z_dim)), truncation, gen).to(dev)
                lab = None if labels is None else torch.from_numpy(labels[start : start + b]).to(dev)
                x = G(z, lab) if lab is not None else G(z)
                out[start : start + b] = (x * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8).cpu().numpy()
    finally:
        G.train(was_training)
    return out, labels
