"""SWD against a slow, explicit NumPy/SciPy formulation of the paper's reference protocol."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch

from progan.errors import UserError
from progan.metrics import laplacian_pyramid, sliced_wasserstein
from progan.metrics.swd import pyr_down, pyr_up, pyramid_resolutions

KERNEL = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float64) / 256.0


def slow_pyr_down(img: np.ndarray) -> np.ndarray:
    """One [H, W] image: explicit loops over a reflect-101 padded copy, every 2nd pixel."""
    p = np.pad(img, 2, mode="reflect")  # NumPy 'reflect' does not repeat the edge = BORDER_REFLECT_101
    h, w = img.shape
    out = np.zeros((h // 2, w // 2))
    for y in range(0, h, 2):
        for x in range(0, w, 2):
            out[y // 2, x // 2] = (p[y : y + 5, x : x + 5] * KERNEL).sum()
    return out


def slow_pyr_up(img: np.ndarray) -> np.ndarray:
    h, w = img.shape
    z = np.zeros((2 * h, 2 * w))
    z[::2, ::2] = img
    p = np.pad(z, 2, mode="reflect")
    out = np.zeros_like(z)
    for y in range(2 * h):
        for x in range(2 * w):
            out[y, x] = (p[y : y + 5, x : x + 5] * KERNEL * 4).sum()
    return out


def reference_swd(a: np.ndarray, b: np.ndarray, seed: int) -> dict[str, float]:
    """The reference protocol, drawing the same random numbers in the same order as the library."""
    gen = torch.Generator().manual_seed(seed)
    if a.shape[1] == 1:  # the reference tiles gray to RGB
        a, b = np.repeat(a, 3, axis=1), np.repeat(b, 3, axis=1)
    res = a.shape[-1]
    resolutions = pyramid_resolutions(res)
    filt = KERNEL[None, None]

    def pyramid(x: np.ndarray) -> list[np.ndarray]:
        levels = [x.astype(np.float64)]
        for _ in range(1, len(resolutions)):
            down = scipy.ndimage.convolve(levels[-1], filt, mode="mirror")[:, :, ::2, ::2]
            z = np.zeros_like(levels[-1])
            z[:, :, ::2, ::2] = down
            levels[-1] = levels[-1] - scipy.ndimage.convolve(z, filt * 4, mode="mirror")
            levels.append(down)
        return levels

    pa, pb = pyramid(a), pyramid(b)
    out = {}
    for lvl, r in enumerate(resolutions):
        descs = []
        for pyr in (pa, pb):
            centres = torch.randint(3, r - 3, (len(a), 128, 2), generator=gen).numpy()
            d = []
            for i in range(len(a)):
                for y, x in centres[i]:
                    d.append(pyr[lvl][i, :, y - 3 : y + 4, x - 3 : x + 4])
            d = np.stack(d)
            d = (d - d.mean(axis=(0, 2, 3), keepdims=True)) / d.std(axis=(0, 2, 3), keepdims=True)
            descs.append(d.reshape(len(d), -1))
        reps = []
        for _ in range(4):
            dirs = torch.randn(147, 128, generator=gen, dtype=torch.float64).numpy()
            dirs /= np.sqrt((dirs**2).sum(axis=0, keepdims=True))
            proj_a = np.sort(descs[0] @ dirs, axis=0)
            proj_b = np.sort(descs[1] @ dirs, axis=0)
            reps.append(np.abs(proj_a - proj_b).mean())
        out[str(r)] = float(np.mean(reps)) * 1e3
    out["avg"] = float(np.mean([out[str(r)] for r in resolutions]))
    return out


def _images(n: int, c: int, res: int, seed: int) -> np.ndarray:
    """Smooth random images (blurred noise), so pyramid levels carry structure."""
    rng = np.random.default_rng(seed)
    x = scipy.ndimage.gaussian_filter(rng.normal(size=(n, c, res, res)), sigma=(0, 0, 1.5, 1.5))
    x = (x - x.min()) / (x.max() - x.min()) * 255
    return x.round().astype(np.uint8)


def test_pyr_down_up_match_explicit_loops():
    rng = np.random.default_rng(1)
    img = rng.uniform(0, 255, size=(16, 16))
    t = torch.from_numpy(img)[None, None]
    np.testing.assert_allclose(pyr_down(t)[0, 0].numpy(), slow_pyr_down(img), rtol=0, atol=1e-9)
    small = img[:8, :8]
    np.testing.assert_allclose(pyr_up(torch.from_numpy(small)[None, None])[0, 0].numpy(), slow_pyr_up(small),
                               rtol=0, atol=1e-9)


def test_pyramid_reconstruction_is_exact():
    x = torch.from_numpy(_images(3, 3, 64, 0)).double()
    levels = laplacian_pyramid(x, 3)
    assert [lvl.shape[-1] for lvl in levels] == [64, 32, 16]
    rec = levels[-1]
    for lvl in reversed(levels[:-1]):
        rec = lvl + pyr_up(rec)
    torch.testing.assert_close(rec, x, rtol=0, atol=1e-10)


def test_pyramid_resolutions():
    assert pyramid_resolutions(128) == [128, 64, 32, 16]
    assert pyramid_resolutions(16) == [16]
    assert pyramid_resolutions(8) == [8]  # documented: one level below 16 px


@pytest.mark.parametrize("channels, res", [(3, 32), (1, 32), (3, 64)])
def test_swd_matches_reference_formulation(channels, res):
    a, b = _images(6, channels, res, 2), _images(6, channels, res, 3)
    got = sliced_wasserstein(a, b, seed=5, batch_size=4)
    want = reference_swd(a, b, seed=5)
    assert set(got) == {str(r) for r in pyramid_resolutions(res)} | {"avg"}
    for k in want:
        assert got[k] == pytest.approx(want[k], rel=1e-4), k


def test_swd_self_is_noise_floor_and_grows_with_noise():
    a = _images(64, 3, 32, 4)
    rng = np.random.default_rng(0)
    noise = rng.normal(size=a.shape)
    vals = []
    for sigma in (0.0, 8.0, 24.0, 64.0):
        b = np.clip(a + sigma * noise, 0, 255).round().astype(np.uint8)
        vals.append(sliced_wasserstein(a, b, seed=0)["avg"])
    assert vals == sorted(vals), vals
    assert vals[0] < 0.5 * vals[-1]
    # identical images with identical patches (same seed streams can't give that) are bounded by sampling
    # noise
    assert sliced_wasserstein(a, a, seed=1)["avg"] == pytest.approx(vals[0], rel=0.5)


def test_swd_is_seeded_and_accepts_tensors():
    a, b = _images(8, 3, 16, 5), _images(8, 3, 16, 6)
    r1 = sliced_wasserstein(a, b, seed=3)
    r2 = sliced_wasserstein(torch.from_numpy(a), torch.from_numpy(b), seed=3, batch_size=3)
    assert r1 == pytest.approx(r2, rel=1e-6)
    assert sliced_wasserstein(a, b, seed=4) != r1


def test_levels_recomputed_from_the_images_equal_levels_kept_in_memory():
    """Past ``cache_bytes`` each Gaussian level is rebuilt batch by batch from the images (memory bounded at
    any resolution); the numbers must not change."""
    a, b = _images(6, 3, 64, 9), _images(6, 3, 64, 10)
    kept = sliced_wasserstein(a, b, seed=2, batch_size=4)
    assert sliced_wasserstein(a, b, seed=2, batch_size=4, cache_bytes=0) == kept
    # the 32 px level is too big and is rebuilt from the images; the 16 px level (made from it) fits and is
    # kept
    assert sliced_wasserstein(a, b, seed=2, batch_size=4, cache_bytes=6 * 3 * 16 * 16 * 4) == kept


def test_swd_rejects_a_pyramid_with_an_odd_inner_level():
    a = _images(4, 3, 66, 11)  # 66 -> 33 -> 16: the 33 px level cannot be halved and rebuilt
    with pytest.raises(UserError, match="odd size"):
        sliced_wasserstein(a, a)
    assert set(sliced_wasserstein(a[:, :, :48, :48], a[:, :, 1:49, 1:49])) == {"48", "24", "avg"}


def test_swd_small_images_single_level():
    a, b = _images(8, 3, 8, 7), _images(8, 3, 8, 8)
    out = sliced_wasserstein(a, b)
    assert set(out) == {"8", "avg"} and out["8"] == out["avg"] > 0
    assert set(sliced_wasserstein(a[:, :, :4, :4], b[:, :, :4, :4])) == {"4", "avg"}


@pytest.mark.parametrize(
    "a, b, match",
    [
        (np.zeros((4, 3, 16, 16), np.float32), np.zeros((4, 3, 16, 16), np.uint8), "uint8"),
        (np.zeros((4, 3, 16, 16), np.uint8), np.zeros((5, 3, 16, 16), np.uint8), "same number"),
        (np.zeros((4, 3, 16, 8), np.uint8), np.zeros((4, 3, 16, 8), np.uint8), "square"),
        (np.zeros((4, 2, 16, 16), np.uint8), np.zeros((4, 2, 16, 16), np.uint8), "1- or 3-channel"),
        (np.zeros((4, 3, 16, 16), np.uint8), np.zeros((4, 3, 16, 16), np.uint8), "constant"),
    ],
)
def test_swd_rejects_bad_input(a, b, match):
    with pytest.raises(UserError, match=match):
        sliced_wasserstein(a, b)


def test_identical_descriptor_sets_give_exactly_zero():
    """With the same patches on both sides the distance is exactly 0; the public API draws separate
    patches per set, so a set against itself measures the sampling-noise floor instead."""
    from progan.metrics.swd import _sliced_distance

    def bufs(chunk: int) -> tuple[np.ndarray, np.ndarray]:
        return np.empty((chunk, 5000), np.float32), np.empty((chunk, 5000), np.float32)

    d = torch.randn(5000, 147)
    assert _sliced_distance(d, d.clone(), torch.Generator().manual_seed(0), False, 20, bufs(20)) == 0.0
    g = torch.randn(5000, 49)
    assert _sliced_distance(g, g.clone(), torch.Generator().manual_seed(0), True, 128, bufs(128)) == 0.0
