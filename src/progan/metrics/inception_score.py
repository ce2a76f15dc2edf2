"""Inception Score (Salimans et al., NeurIPS 2016).

Matches torch-fidelity's ``metric_isc.py`` (and the original OpenAI code): softmax of the 1008-way
Inception logits (without bias, as torch-fidelity's ``logits_unbiased``), 10 splits,
IS = exp(mean_x KL(p(y|x) || p(y))) per split; mean and standard deviation (ddof = 0) over splits.
"""

from __future__ import annotations

import numpy as np

from progan.errors import UserError

SPLITS = 10

__all__ = ["inception_score"]


def inception_score(logits: np.ndarray, *, splits: int = SPLITS) -> tuple[float, float]:
    """(mean, std) of the score over ``splits`` consecutive splits of [N, K] class logits."""
    z = np.asarray(logits, np.float64)
    if z.ndim != 2 or len(z) < splits:
        raise UserError(f"Inception Score needs [N >= {splits}, K] logits, got shape {z.shape}")
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(log_p)
    scores = []
    for part_p, part_log in zip(np.array_split(p, splits), np.array_split(log_p, splits)):
        log_py = np.log(part_p.mean(axis=0))
        kl = (part_p * (part_log - log_py[None])).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))
