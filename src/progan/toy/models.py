"""Tiny MLPs for the 1-D toy GAN and the map between data units and the unit scale they train in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["Standardizer", "mlp"]


def mlp(in_features: int, hidden: int, layers: int, out_features: int) -> nn.Sequential:
    """``layers`` hidden layers of width ``hidden`` with LeakyReLU(0.2), then a linear output."""
    modules: list[nn.Module] = []
    width = in_features
    for _ in range(layers):
        modules += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
        width = hidden
    modules.append(nn.Linear(width, out_features))
    return nn.Sequential(*modules)


@dataclass(frozen=True)
class Standardizer:
    """x -> (x - mean) / std, so the same small nets learn N(16, 5) and N(1000, 200) alike."""

    mean: float
    std: float

    @classmethod
    def fit(cls, data: np.ndarray) -> Standardizer:
        return cls(float(np.mean(data)), float(np.std(data)))

    def to_unit(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.mean) / self.std

    def from_unit(self, u: np.ndarray | Tensor) -> np.ndarray:
        if isinstance(u, Tensor):
            u = u.detach().to("cpu", torch.float64).numpy()
        return np.asarray(u, dtype=np.float64) * self.std + self.mean
