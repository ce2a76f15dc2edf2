"""Fréchet distance: closed forms for Gaussians with known parameters and the sqrtm formula."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from progan.errors import UserError
from progan.metrics import feature_statistics, fid_from_features, frechet_distance


def test_diagonal_covariances_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    v1, v2 = rng.uniform(0.1, 3, 16), rng.uniform(0.1, 3, 16)
    want = np.sum((mu1 - mu2) ** 2) + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(want, rel=1e-10)


def test_full_covariances_match_sqrtm_formula():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(32, 32)), rng.normal(size=(32, 32))
    s1, s2 = a @ a.T + 0.1 * np.eye(32), b @ b.T + 0.1 * np.eye(32)
    mu1, mu2 = rng.normal(size=32), rng.normal(size=32)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    want = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-8)


def test_scaled_isotropic_gaussians():
    # N(0, I) vs N(m, 4 I) in d dims: |m|^2 + d (1 + 4 - 2*2) = |m|^2 + d
    d = 10
    m = np.full(d, 0.5)
    assert frechet_distance(np.zeros(d), np.eye(d), m, 4 * np.eye(d)) == pytest.approx(d * 0.25 + d,
                                                                                      rel=1e-12)


def test_same_statistics_give_zero_even_when_singular():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(20, 64))  # fewer samples than dimensions: rank-deficient covariance
    mu, s = feature_statistics(f)
    assert abs(frechet_distance(mu, s, mu, s)) < 1e-6 * np.trace(s)  # sqrt of ~0 eigenvalues
    assert fid_from_features(f, f + 1.0) == pytest.approx(64.0, rel=1e-6)


def test_feature_statistics_are_float64_and_unbiased():
    f = np.random.default_rng(3).normal(size=(50, 4)).astype(np.float32)
    mu, s = feature_statistics(f)
    assert mu.dtype == s.dtype == np.float64
    np.testing.assert_allclose(s, np.cov(f.astype(np.float64), rowvar=False), rtol=1e-12)


def test_bad_statistics_are_user_errors():
    with pytest.raises(UserError, match="shapes"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(UserError, match="NaN"):
        frechet_distance(np.full(2, np.nan), np.eye(2), np.zeros(2), np.eye(2))
