"""KID, precision/recall and IS against direct formulas."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from progan.errors import UserError
from progan.metrics import inception_score, kernel_inception_distance, precision_recall


def direct_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_equals_unbiased_mmd_on_full_subsets():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(15, 6)), rng.normal(0.5, 1.2, size=(15, 6))
    mean, std = kernel_inception_distance(y, x, num_subsets=3, subset_size=15)
    assert mean == pytest.approx(direct_mmd2(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)  # every subset is the whole set


def test_kid_near_zero_for_same_distribution_and_positive_otherwise():
    rng = np.random.default_rng(1)
    a, b, c = rng.normal(size=(400, 16)), rng.normal(size=(400, 16)), rng.normal(0.3, 1, size=(400, 16))
    same, _ = kernel_inception_distance(a, b, num_subsets=20, subset_size=200)
    diff, _ = kernel_inception_distance(a, c, num_subsets=20, subset_size=200)
    assert abs(same) < 0.1 * diff and diff > 0


def brute_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    def radii(s):
        return np.array([sorted(np.linalg.norm(s - p, axis=1))[k] for p in s])

    def coverage(q, s, r):
        return np.mean([any(np.linalg.norm(p - s[j]) <= r[j] for j in range(len(s))) for p in q])

    return coverage(fake, real, radii(real)), coverage(real, fake, radii(fake))


def test_precision_recall_matches_brute_force():
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(60, 5)), rng.normal(0.7, 0.6, size=(50, 5))
    got = precision_recall(real, fake, k=3, block=16)
    want = brute_precision_recall(real, fake, 3)
    assert got == pytest.approx(want, abs=1e-12)
    assert 0 < got[0] < 1 and 0 < got[1] < 1


def test_precision_recall_of_a_set_with_itself_is_one():
    f = np.random.default_rng(3).normal(size=(40, 4))
    assert precision_recall(f, f) == (1.0, 1.0)
    with pytest.raises(UserError, match="more than k"):
        precision_recall(f[:3], f[:3])


def test_inception_score_extremes():
    k = 10
    assert inception_score(np.zeros((100, k)), splits=2)[0] == pytest.approx(1.0)
    confident = np.full((100, k), -1e4)
    confident[np.arange(100), np.arange(100) % k] = 0.0  # certain and balanced: IS = number of classes
    mean, std = inception_score(confident, splits=5, shuffle=False)
    assert mean == pytest.approx(k, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_matches_direct_kl():
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(30, 7)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    py = p.mean(0)
    want = np.exp(np.mean([np.sum(pi * np.log(pi / py)) for pi in p]))
    assert inception_score(logits, splits=1)[0] == pytest.approx(want, rel=1e-12)


def test_inception_score_matches_torch_fidelity_splitting():
    """Same shuffle (RandomState(2020)) and split boundaries (i*N//splits) as torch-fidelity's metric_isc."""
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(103, 8)) * 3
    perm = np.random.RandomState(2020).permutation(103)
    z = logits[perm]
    scores = []
    for i in range(10):
        chunk = z[i * 103 // 10 : (i + 1) * 103 // 10]
        p = np.exp(chunk) / np.exp(chunk).sum(1, keepdims=True)
        scores.append(np.exp(np.mean([np.sum(pi * np.log(pi / p.mean(0))) for pi in p])))
    mean, std = inception_score(logits)
    assert mean == pytest.approx(np.mean(scores), rel=1e-12)
    assert std == pytest.approx(np.std(scores), rel=1e-9)
