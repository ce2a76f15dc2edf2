"""MS-SSIM against a direct NumPy/SciPy transcription of the reference (2-D window, fftconvolve 'valid')."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import torch

from progan.errors import UserError
from progan.metrics import ms_ssim, ms_ssim_pairs

WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def window_2d(size: int, sigma: float) -> np.ndarray:
    radius = size // 2
    offset, start, stop = 0.0, -radius, radius + 1
    if size % 2 == 0:
        offset, stop = 0.5, stop - 1
    x, y = np.mgrid[offset + start : stop, offset + start : stop]
    g = np.exp(-((x**2 + y**2) / (2.0 * sigma**2)))
    return g / g.sum()


def reference_pair(img1: np.ndarray, img2: np.ndarray) -> float:
    """One pair, [C, H, W], float64 throughout; SSIM/CS averaged over channels and pixels at each scale."""
    a, b = img1.astype(np.float64), img2.astype(np.float64)
    mssim, mcs = [], []
    for _ in range(5):
        size = min(11, a.shape[1], a.shape[2])
        win = window_2d(size, size * 1.5 / 11)[None]
        conv = lambda x: scipy.signal.fftconvolve(x, win, mode="valid")  # noqa: E731
        mu1, mu2 = conv(a), conv(b)
        s11, s22, s12 = conv(a * a) - mu1 * mu1, conv(b * b) - mu2 * mu2, conv(a * b) - mu1 * mu2
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        v1, v2 = 2 * s12 + c2, s11 + s22 + c2
        mssim.append(np.mean((2 * mu1 * mu2 + c1) * v1 / ((mu1**2 + mu2**2 + c1) * v2)))
        mcs.append(np.mean(v1 / v2))
        a = (a[:, 0::2, 0::2] + a[:, 1::2, 0::2] + a[:, 0::2, 1::2] + a[:, 1::2, 1::2]) * 0.25
        b = (b[:, 0::2, 0::2] + b[:, 1::2, 0::2] + b[:, 0::2, 1::2] + b[:, 1::2, 1::2]) * 0.25
    mssim, mcs = np.clip(mssim, 0, None), np.clip(mcs, 0, None)
    return float(np.prod(mcs[:-1] ** WEIGHTS[:-1]) * mssim[-1] ** WEIGHTS[-1])


def _images(n: int, c: int, res: int, seed: int, sigma: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = scipy.ndimage.gaussian_filter(rng.normal(size=(n, c, res, res)), sigma=(0, 0, sigma, sigma))
    x = (x - x.min()) / (x.max() - x.min()) * 255
    return x.round().astype(np.uint8)


@pytest.mark.parametrize("channels, res", [(3, 64), (1, 32), (3, 16)])
def test_ms_ssim_matches_reference(channels, res):
    base = _images(6, channels, res, 0)
    noisy = np.clip(base + np.random.default_rng(1).normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    images = np.empty((12, channels, res, res), np.uint8)
    images[0::2], images[1::2] = base, noisy
    want = [reference_pair(images[i], images[i + 1]) for i in range(0, 12, 2)]
    got = ms_ssim_pairs(torch.from_numpy(images[0::2]), torch.from_numpy(images[1::2])).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-5)
    assert ms_ssim(images, batch_size=4) == pytest.approx(np.mean(want), rel=2e-5)
    assert 0.2 < np.mean(want) < 0.99  # a meaningful operating point, not a clipped extreme


def test_channels_are_averaged_before_the_product():
    """A pair equal in one channel and unrelated in another: per-channel-first products would differ."""
    a, b = _images(2, 3, 32, 3), _images(2, 3, 32, 4)
    b[:, 0] = a[:, 0]
    pair = np.stack([a[0], b[0]])
    assert ms_ssim(pair) == pytest.approx(reference_pair(a[0], b[0]), rel=2e-5)


def test_identical_pairs_give_one_and_unrelated_pairs_less():
    imgs = np.repeat(_images(5, 3, 32, 2), 2, axis=0)
    assert ms_ssim(imgs) == pytest.approx(1.0, abs=1e-6)
    assert ms_ssim(_images(10, 3, 32, 5)) < 0.5


def test_odd_count_ignores_last_image():
    imgs = _images(7, 3, 16, 6)
    assert ms_ssim(imgs) == pytest.approx(ms_ssim(imgs[:6]), rel=1e-12)


def test_ms_ssim_rejects_small_or_single():
    with pytest.raises(UserError, match="at least 16x16"):
        ms_ssim(np.zeros((4, 3, 8, 8), np.uint8))
    with pytest.raises(UserError, match="at least 2 images"):
        ms_ssim(np.zeros((1, 3, 32, 32), np.uint8))
