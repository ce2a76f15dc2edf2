"""Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019).

Matches ``metrics/precision_recall.py`` of github.com/NVlabs/stylegan2-ada-pytorch: the manifold of a set
is the union of balls around its features with radius the distance to the k-th nearest other feature
(k = 3); precision = share of fakes inside the real manifold, recall = share of reals inside the fake
manifold. Distances in float64, computed in blocks so memory stays bounded.
"""

from __future__ import annotations

import numpy as np
import torch

from progan.errors import UserError

K = 3

__all__ = ["precision_recall", "knn_radii"]


def _sq_dists(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    d = x.square().sum(1, keepdim=True) + y.square().sum(1)[None] - 2.0 * (x @ y.T)
    return d.clamp_min_(0.0)


def knn_radii(features: torch.Tensor, k: int = K, block: int = 1024) -> torch.Tensor:
    """Squared distance of each feature to its k-th nearest neighbour in the same set (itself excluded)."""
    out = torch.empty(len(features), dtype=features.dtype, device=features.device)
    for i in range(0, len(features), block):
        d = _sq_dists(features[i : i + block], features)
        out[i : i + block] = d.kthvalue(k + 1, dim=1).values  # the 1st smallest is the point itself (0)
    return out


def _coverage(queries: torch.Tensor, support: torch.Tensor, radii: torch.Tensor, block: int) -> float:
    inside = 0
    for i in range(0, len(queries), block):
        d = _sq_dists(queries[i : i + block], support)
        inside += int((d <= radii[None]).any(dim=1).sum())
    return inside / len(queries)


def precision_recall(
    real_features: np.ndarray,
    fake_features: np.ndarray,
    *,
    k: int = K,
    device: "str | torch.device" = "cpu",
    block: int = 1024,
) -> tuple[float, float]:
    """(precision, recall) of fakes against reals in a feature space."""
    r = torch.as_tensor(np.asarray(real_features), dtype=torch.float64, device=device)
    f = torch.as_tensor(np.asarray(fake_features), dtype=torch.float64, device=device)
    if r.ndim != 2 or f.ndim != 2 or r.shape[1] != f.shape[1]:
        raise UserError("precision/recall: feature sets must be [N, D] with equal D, "
                        f"got {tuple(r.shape)}, {tuple(f.shape)}")
    if min(len(r), len(f)) <= k:
        raise UserError(f"precision/recall needs more than k={k} images per set")
    precision = _coverage(f, r, knn_radii(r, k, block), block)
    recall = _coverage(r, f, knn_radii(f, k, block), block)
    return precision, recall
