"""Kernel Inception Distance (Bińkowski et al., ICLR 2018).

Matches ``metrics/kernel_inception_distance.py`` of github.com/NVlabs/stylegan2-ada-pytorch and
torch-fidelity's ``metric_kid.py``: unbiased MMD^2 with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, averaged over 100 random subsets of min(1000, N) features from each set.
"""

from __future__ import annotations

import numpy as np

from progan.errors import UserError

NUM_SUBSETS = 100
SUBSET_SIZE = 1000

__all__ = ["kernel_inception_distance"]


def kernel_inception_distance(
    real_features: np.ndarray,
    fake_features: np.ndarray,
    *,
    num_subsets: int = NUM_SUBSETS,
    subset_size: int = SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """Mean and standard deviation over subsets of the unbiased MMD^2 estimate between [N, D] feature sets."""
    x_all = np.asarray(fake_features, np.float64)
    y_all = np.asarray(real_features, np.float64)
    if x_all.ndim != 2 or y_all.ndim != 2 or x_all.shape[1] != y_all.shape[1]:
        raise UserError(f"KID: feature sets must be [N, D] with equal D, got {x_all.shape} and {y_all.shape}")
    d = x_all.shape[1]
    m = min(len(x_all), len(y_all), subset_size)
    if m < 2:
        raise UserError("KID needs at least 2 images per set")
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = x_all[rng.choice(len(x_all), m, replace=False)]
        y = y_all[rng.choice(len(y_all), m, replace=False)]
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        values[i] = (a.sum() - np.diag(a).sum()) / (m - 1) / m - b.sum() * 2 / m / m
    return float(values.mean()), float(values.std())
