"""Sliced Wasserstein distance between Laplacian-pyramid patch statistics (Karras et al., ICLR 2018, Sec. 5).

Matches the authors' reference, ``metrics/sliced_wasserstein.py`` of
github.com/tkarras/progressive_growing_of_gans: cv2.pyrDown/pyrUp pyramids (5x5 binomial kernel,
mirrored BORDER_REFLECT_101 borders) from full resolution down to 16x16; 128 random 7x7 neighbourhoods
per image and level; each set's descriptors normalised by its own per-channel mean and std; 4 repeats x
128 random unit directions; sorted projections; mean absolute difference; reported x1e3.

Departures, all documented: gray images are not copied three times but projected on the sum of the
three channel blocks of each direction, which is the same number (the tiled channels are identical);
images smaller than 16x16 (early in progressive training) give a single level at their own resolution,
with the largest odd neighbourhood <= 7 that fits. Memory: every projection of one level of both sets
must exist at once for sorting, i.e. about 2 x N x 128 x 147 x 4 bytes (2.4 GB at N = 16,384); images
are converted and filtered in batches and the pyramid is rebuilt per level so nothing else grows with N.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from progan.errors import UserError
from progan.metrics._images import ImageSource, as_image_source, check_pair

PATCH_SIZE = 7
PATCHES_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
MIN_LEVEL_RES = 16
RGB = 3

_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)

__all__ = [
    "sliced_wasserstein",
    "laplacian_pyramid",
    "pyr_down",
    "pyr_up",
    "pyramid_resolutions",
]


def _taps(scale: float) -> list[float]:
    return [t * scale / 16.0 for t in _BINOMIAL]


def _fir(x: torch.Tensor, taps: list[float], dim: int, stride: int) -> torch.Tensor:
    """'valid' 1-D FIR along ``dim`` as a sum of shifted slices: much faster on CPU than a 1-channel conv2d."""
    out_len = (x.shape[dim] - len(taps)) // stride + 1
    acc = None
    for k, t in enumerate(taps):
        sl = x.narrow(dim, k, (out_len - 1) * stride + 1)
        if stride > 1:
            sl = sl[:, :, ::stride, :] if dim == 2 else sl[:, :, :, ::stride]
        acc = sl * t if acc is None else acc.add_(sl, alpha=t)
    assert acc is not None
    return acc


def _separable(x: torch.Tensor, taps: list[float], stride: int) -> torch.Tensor:
    """Reflect-101 padded 5x5 separable filter, optionally keeping every ``stride``-th pixel."""
    y = F.pad(x, (2, 2, 2, 2), mode="reflect")  # torch 'reflect' = cv2 BORDER_REFLECT_101
    return _fir(_fir(y, taps, 3, stride), taps, 2, stride)


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    """cv2.pyrDown: binomial blur with mirrored borders, then every second pixel. [N,C,H,W] -> [N,C,H/2,W/2]."""
    return _separable(x, _taps(1.0), stride=2)


def pyr_up(x: torch.Tensor) -> torch.Tensor:
    """cv2.pyrUp as in the reference: zero-insert to twice the size, then blur with 4x the kernel."""
    n, c, h, w = x.shape
    up = x.new_zeros(n, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    return _separable(up, _taps(2.0), stride=1)  # (2k/16) (x) (2k/16) = 4 * kernel


def laplacian_pyramid(x: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """Levels G_i - pyrUp(G_{i+1}) from full resolution down, the last one the low-pass residual."""
    levels = []
    g = x
    for _ in range(num_levels - 1):
        down = pyr_down(g)
        levels.append(g - pyr_up(down))
        g = down
    levels.append(g)
    return levels


def pyramid_resolutions(resolution: int) -> list[int]:
    """Resolutions of the pyramid levels: full down to 16 (one level for images under 16 px)."""
    if resolution < MIN_LEVEL_RES:
        return [resolution]
    out = []
    r = resolution
    while r >= MIN_LEVEL_RES:
        out.append(r)
        r //= 2
    return out


def _patch_size(resolution: int) -> int:
    if resolution >= PATCH_SIZE:
        return PATCH_SIZE
    return resolution if resolution % 2 == 1 else resolution - 1


def _level_descriptors(
    source: ImageSource,
    level: int,
    num_levels: int,
    centres: torch.Tensor,   # [N, P, 2] int64 (y, x) on CPU
    patch: int,
    device: torch.device,
    batch_size: int,
) -> torch.Tensor:
    """Descriptors [N*P, C*patch*patch] of one pyramid level, layout (channel, y, x) as the reference."""
    n = len(source)
    c = source.channels
    p = centres.shape[1]
    out = torch.empty(n * p, c * patch * patch, dtype=torch.float32, device=device)
    off = torch.arange(patch, device=device) - patch // 2
    for start in range(0, n, batch_size):
        x = source.batch(start, min(n, start + batch_size), device).float()
        lev = laplacian_pyramid(x, level + 2)[level] if level < num_levels - 1 else _residual(x, level)
        b = lev.shape[0]
        cen = centres[start : start + b].to(device)
        yy = cen[:, :, 0].view(b, p, 1, 1) + off.view(1, 1, patch, 1)
        xx = cen[:, :, 1].view(b, p, 1, 1) + off.view(1, 1, 1, patch)
        bi = torch.arange(b, device=device).view(b, 1, 1, 1)
        pts = lev.permute(0, 2, 3, 1)[bi, yy, xx]  # [b, P, patch, patch, C]
        out[start * p : (start + b) * p] = pts.permute(0, 1, 4, 2, 3).reshape(b * p, -1)
    return out


def _residual(x: torch.Tensor, level: int) -> torch.Tensor:
    for _ in range(level):
        x = pyr_down(x)
    return x


def _normalise_(desc: torch.Tensor, channels: int) -> None:
    """Per-channel mean/std over all descriptors and pixels (np.std, ddof=0) of one set, in place."""
    v = desc.view(desc.shape[0], channels, -1)
    var, mean = torch.var_mean(v, dim=(0, 2), correction=0, keepdim=True)  # Welford: accurate in float32
    if not bool((var > 0).all()):
        raise UserError("SWD: a set of images is constant in some channel (zero variance); cannot normalise")
    v.sub_(mean).div_(var.sqrt())


def _sort_rows_(arr: np.ndarray) -> np.ndarray:
    """Sort each row in place, rows split over threads (NumPy's sort releases the GIL)."""
    workers = max(1, min(torch.get_num_threads(), arr.shape[0]))
    if workers == 1:
        arr.sort(axis=1)
        return arr
    bounds = np.linspace(0, arr.shape[0], workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda i: arr[bounds[i] : bounds[i + 1]].sort(axis=1), range(workers)))
    return arr


def _projected_w1_sum(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> float:
    """Sum over directions (rows of ``w``) and ranks of |sorted(a w) - sorted(b w)|."""
    if a.device.type == "cpu":  # NumPy's BLAS call and SIMD sort are 2-15x faster than torch's on CPU
        wn = w.numpy()
        pa = _sort_rows_(wn @ a.numpy().T)  # [k, M] with contiguous rows
        pb = _sort_rows_(wn @ b.numpy().T)
        return float(np.abs(np.subtract(pa, pb, out=pa), out=pa).sum(dtype=np.float64))
    pa = torch.mm(w, a.T).sort(dim=1).values
    pb = torch.mm(w, b.T).sort(dim=1).values
    return float(pa.sub_(pb).abs_().sum(dtype=torch.float64))


def _sliced_distance(
    a: torch.Tensor,
    b: torch.Tensor,
    gen: torch.Generator,
    tile_gray: bool,
    max_bytes: int,
) -> float:
    """Mean over repeats of the mean |sorted proj(a) - sorted proj(b)| over descriptors and directions."""
    m, dim = a.shape
    full_dim = dim * RGB if tile_gray else dim
    chunk = max(1, min(DIRS_PER_REPEAT, max_bytes // (2 * 4 * m)))
    repeats = []
    for _ in range(DIR_REPEATS):
        dirs = torch.randn(full_dim, DIRS_PER_REPEAT, generator=gen, dtype=torch.float64)
        dirs /= dirs.square().sum(dim=0, keepdim=True).sqrt()
        if tile_gray:  # d_tiled . w == d . (w_r + w_g + w_b)
            dirs = dirs.view(RGB, dim, DIRS_PER_REPEAT).sum(dim=0)
        w_all = dirs.T.contiguous().float().to(a.device)  # [directions, dim]
        total = sum(_projected_w1_sum(a, b, w_all[j : j + chunk]) for j in range(0, DIRS_PER_REPEAT, chunk))
        repeats.append(total / (m * DIRS_PER_REPEAT))
    return float(np.mean(repeats))


def sliced_wasserstein(
    reals: "np.ndarray | torch.Tensor",
    fakes: "np.ndarray | torch.Tensor",
    *,
    seed: int = 0,
    device: "str | torch.device | None" = None,
    batch_size: int = 256,
    max_bytes: int = 512 << 20,
) -> dict[str, float]:
    """SWD x1e3 per pyramid level (keys '128', '64', ..., '16') and their average ('avg').

    Karras et al. 2018; the reference protocol is described in the module docstring. ``reals`` and
    ``fakes`` are uint8 [N, C, H, W] arrays or tensors (memory-mapped arrays are read in batches) with
    the same N, C (1 or 3) and square H = W. ``max_bytes`` bounds the projection buffers.
    """
    a = as_image_source(reals, "reals")
    b = as_image_source(fakes, "fakes")
    check_pair(a, b, "SWD")
    if a.channels not in (1, RGB):
        raise UserError(f"SWD needs 1- or 3-channel images, got {a.channels} channels")
    if a.resolution < 3:
        raise UserError(f"SWD needs images of at least 3x3 pixels, got {a.resolution}x{a.resolution}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    resolutions = pyramid_resolutions(a.resolution)
    n = len(a)
    gen = torch.Generator().manual_seed(int(seed))
    tile_gray = a.channels == 1
    out: dict[str, float] = {}
    for level, res in enumerate(resolutions):
        patch = _patch_size(res)
        lo, hi = patch // 2, res - patch // 2  # centres so that the whole neighbourhood fits
        descs = []
        for src in (a, b):
            centres = torch.randint(lo, hi, (n, PATCHES_PER_IMAGE, 2), generator=gen)
            d = _level_descriptors(src, level, len(resolutions), centres, patch, dev, batch_size)
            _normalise_(d, src.channels)
            descs.append(d)
        out[str(res)] = _sliced_distance(descs[0], descs[1], gen, tile_gray, max_bytes) * 1e3
        del descs
    out["avg"] = float(np.mean([out[str(r)] for r in resolutions]))
    return out
