"""Fréchet distance between Gaussians fitted to features (Heusel et al. 2017, FID).

Matches the reference ``fid_score.py`` of github.com/bioinf-jku/TTUR (and pytorch-fid / torch-fidelity):
||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) with means and covariances (np.cov, ddof = 1) in float64.
The trace of the matrix square root is taken in the symmetric eigenvalue form
Tr((S1 S2)^(1/2)) = sum sqrt(eig(S1^(1/2) S2 S1^(1/2))), which is real by construction and avoids
scipy's ``sqrtm`` faults (1.11.2-1.12) and its removed ``disp`` argument; if it is not finite,
eps * I is added to both covariances as the reference does.
"""

from __future__ import annotations

import numpy as np

from progan.errors import UserError

__all__ = ["frechet_distance", "feature_statistics", "fid_from_features"]


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (ddof = 1) of [N, D] features, in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise UserError(f"feature statistics need an [N >= 2, D] array, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    m = root1 @ s2 @ root1
    ev = np.linalg.eigvalsh((m + m.T) * 0.5)
    return float(np.sqrt(np.clip(ev, 0.0, None)).sum())


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    *,
    eps: float = 1e-6,
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (FID when fed Inception pool3
    statistics)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise UserError("Fréchet distance: inconsistent shapes "
                        f"{mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, s1, s2)):
        raise UserError("Fréchet distance: the statistics contain NaN or infinity (diverged generator?)")
    diff = mu1 - mu2
    tr = _trace_sqrt_product(s1, s2)
    if not np.isfinite(tr):
        offset = np.eye(d) * eps
        tr = _trace_sqrt_product(s1 + offset, s2 + offset)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr)


def fid_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to two [N, D] feature sets."""
    return frechet_distance(*feature_statistics(features1), *feature_statistics(features2))
