"""Evaluation metrics: the paper's SWD and MS-SSIM; FID, KID, IS, precision/recall on Inception or
offline-classifier features. Each metric lives in its own module that names the reference it matches;
:func:`evaluate` runs any of them (registry in :data:`METRICS`) on a generator against a data set."""

from __future__ import annotations

from progan.metrics.frechet import feature_statistics, fid_from_features, frechet_distance
from progan.metrics.inception_score import inception_score
from progan.metrics.kid import kernel_inception_distance
from progan.metrics.msssim import ms_ssim, ms_ssim_pairs
from progan.metrics.precision_recall import precision_recall
from progan.metrics.registry import METRICS, evaluate
from progan.metrics.swd import laplacian_pyramid, sliced_wasserstein

__all__ = [
    "evaluate",
    "METRICS",
    "sliced_wasserstein",
    "laplacian_pyramid",
    "ms_ssim",
    "ms_ssim_pairs",
    "frechet_distance",
    "feature_statistics",
    "fid_from_features",
    "kernel_inception_distance",
    "inception_score",
    "precision_recall",
]
