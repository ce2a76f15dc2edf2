"""Evaluation metrics: the paper's SWD and MS-SSIM; FID, KID, IS, precision/recall on Inception or
offline-classifier features. Each metric lives in its own module that names the reference it matches."""

from __future__ import annotations

from progan.metrics.frechet import feature_statistics, fid_from_features, frechet_distance
from progan.metrics.msssim import ms_ssim, ms_ssim_pairs
from progan.metrics.swd import laplacian_pyramid, sliced_wasserstein

__all__ = [
    "sliced_wasserstein",
    "laplacian_pyramid",
    "ms_ssim",
    "ms_ssim_pairs",
    "frechet_distance",
    "feature_statistics",
    "fid_from_features",
]
