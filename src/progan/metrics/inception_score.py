"""Inception Score (Salimans et al., NeurIPS 2016).

Matches torch-fidelity's ``metric_isc.py`` (whose CIFAR-10 value, 11.2368, is the reference quoted in
metrics.md): the 1008-way Inception logits without bias (``logits_unbiased``) are shuffled with
``np.random.RandomState(2020)``, cut into 10 splits at i*N//10, and each split scores
exp(mean_x KL(p(y|x) || p(y))) in float64; mean and standard deviation (ddof = 0) over splits.
"""

from __future__ import annotations

import numpy as np

from progan.errors import UserError

SPLITS = 10
SHUFFLE_SEED = 2020

__all__ = ["inception_score"]


def inception_score(
    logits: np.ndarray,
    *,
    splits: int = SPLITS,
    shuffle: bool = True,
    seed: int = SHUFFLE_SEED,
) -> tuple[float, float]:
    """(mean, std) of the score over ``splits`` splits of [N, K] class logits."""
    z = np.asarray(logits, np.float64)
    if z.ndim != 2 or len(z) < splits:
        raise UserError(f"Inception Score needs [N >= {splits}, K] logits, got shape {z.shape}")
    n = len(z)
    if shuffle:
        z = z[np.random.RandomState(seed).permutation(n)]
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        with np.errstate(divide="ignore", invalid="ignore"):
            log_py = np.log(p[lo:hi].mean(axis=0))
            terms = np.where(p[lo:hi] > 0, p[lo:hi] * (log_p[lo:hi] - log_py[None]), 0.0)  # 0 log 0 = 0
        scores.append(np.exp(terms.sum(axis=1).mean()))
    return float(np.mean(scores)), float(np.std(scores))
