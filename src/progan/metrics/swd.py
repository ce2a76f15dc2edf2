"""Sliced Wasserstein distance between Laplacian-pyramid patch statistics (Karras et al., ICLR 2018, Sec. 5).

Matches the authors' reference, ``metrics/sliced_wasserstein.py`` of
github.com/tkarras/progressive_growing_of_gans: cv2.pyrDown/pyrUp pyramids (5x5 binomial kernel,
mirrored BORDER_REFLECT_101 borders) from full resolution down to 16x16; 128 random 7x7 neighbourhoods
per image and level; each set's descriptors normalised by its own per-channel mean and std; 4 repeats x
128 random unit directions; sorted projections; mean absolute difference; reported x1e3.

Departures, all documented: gray images are not copied three times but projected on the sum of the
three channel blocks of each direction, which is the same number (the tiled channels are identical);
images smaller than 16x16 (early in progressive training) give a single level at their own resolution,
with the largest odd neighbourhood <= 7 that fits. Memory: the descriptors of one level of both sets
must exist at once for sorting, 2 x N x 128 x 147 x 4 bytes (2.4 GB at N = 16,384) at any resolution,
plus the projection buffers (``max_bytes``). The next Gaussian level of every image is kept in float32
when it fits ``cache_bytes`` (0.8 GB per set at 16,384 x 128x128); above that (e.g. 16,384 x 1024x1024,
whose half-size level alone would be 51 GB) each level is recomputed from the images batch by batch, so
memory does not grow with the resolution. Images are read and filtered in small batches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from progan.errors import UserError
from progan.metrics._filters import fir
from progan.metrics._images import ImageSource, as_image_source, cache_batch, check_pair
from progan.metrics._threads import map_batches

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


def _separable(x: torch.Tensor, taps: list[float], stride: int) -> torch.Tensor:
    """Reflect-101 padded 5x5 separable filter, optionally keeping every ``stride``-th pixel."""
    y = F.pad(x, (2, 2, 2, 2), mode="reflect")  # torch 'reflect' = cv2 BORDER_REFLECT_101
    return fir(fir(y, taps, 3, stride), taps, 2, stride)


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    """cv2.pyrDown: binomial blur with mirrored borders, then every second pixel.
    [N,C,H,W] -> [N,C,H/2,W/2]."""
    return _separable(x, _taps(1.0), stride=2)


def pyr_up(x: torch.Tensor) -> torch.Tensor:
    """pyrUp as the reference code computes it: zero-insert to twice the size, then the mirrored blur with
    4x the kernel (scipy.ndimage mode='mirror' on the zero-inserted image, the reference's cv2.pyrUp
    stand-in)."""
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


@dataclass(frozen=True)
class _GaussianLevel:
    """G_L of every image, read in batches: ``downs`` pyrDowns of ``base`` applied to each batch."""

    base: ImageSource       # the uint8 images, or a Gaussian level kept in memory
    downs: int = 0

    def __len__(self) -> int:
        return len(self.base)

    @property
    def channels(self) -> int:
        return self.base.channels

    @property
    def resolution(self) -> int:
        return self.base.resolution >> self.downs

    def batch(self, start: int, stop: int, device: torch.device) -> torch.Tensor:
        g = self.base.batch(start, stop, device).float()
        for _ in range(self.downs):
            g = pyr_down(g)
        return g


def _patch_size(resolution: int) -> int:
    if resolution >= PATCH_SIZE:
        return PATCH_SIZE
    return resolution if resolution % 2 == 1 else resolution - 1


def _level_descriptors(
    source: _GaussianLevel,    # G_i of every image
    last: bool,
    keep_next: bool,
    centres: torch.Tensor,     # [N, P, 2] int64 (y, x) on CPU
    patch: int,
    device: torch.device,
    batch_size: int,
    out: torch.Tensor,         # [N*P, C*patch*patch] float32, overwritten
) -> torch.Tensor | None:
    """Descriptors [N*P, C*patch*patch] of level i = G_i - pyrUp(G_{i+1}) (layout channel, y, x as the
    reference) written into ``out``; returns G_{i+1} of every image when ``keep_next`` (else None)."""
    n = len(source)
    c = source.channels
    p = centres.shape[1]
    half = source.resolution // 2
    nxt = torch.empty(n, c, half, half, device=device) if keep_next else None

    def fill(start: int) -> None:  # batches write disjoint rows of ``out`` and ``nxt``
        g = source.batch(start, min(n, start + batch_size), device)
        if last:
            lev = g
        else:
            down = pyr_down(g)
            if nxt is not None:
                nxt[start : start + len(g)] = down
            lev = g - pyr_up(down)
        b = lev.shape[0]
        corner = centres[start : start + b].to(device).view(b * p, 2) - patch // 2
        # Every patch x patch window as a strided view [b, C, H', W', patch, patch] (no copy); one advanced
        # index per patch then copies its window in (channel, y, x) order, 2.5x faster than a flat gather
        # whose int64 index has an entry per copied value.
        windows = lev.unfold(2, patch, 1).unfold(3, patch, 1)
        img = torch.arange(b, device=device).repeat_interleave(p)
        out[start * p : (start + b) * p] = windows[img, :, corner[:, 0], corner[:, 1]].reshape(b * p, -1)

    map_batches(fill, range(0, n, batch_size), device)
    return nxt


def _normalise_(desc: torch.Tensor, channels: int, chunk: int = 4096) -> None:
    """Per-channel mean/std over all descriptors and pixels (np.std, ddof=0) of one set, in place.

    Two passes with float64 column sums over cache-sized row blocks: the mean must be exact to ~1e-7,
    since an offset shifts every projection of the set and SWD is a mean of small differences.
    """
    m, dim = desc.shape
    count = m * (dim // channels)
    starts = range(0, m, chunk)

    def total(block_sum: Callable[[int], torch.Tensor]) -> torch.Tensor:
        # block sums added in block order: the result does not depend on the number of workers
        return torch.stack(map_batches(block_sum, starts, desc.device)).sum(0)

    col = total(lambda i: desc[i : i + chunk].sum(0, dtype=torch.float64))
    mean = col.view(channels, -1).sum(1) / count
    mean_col = mean.repeat_interleave(dim // channels).float()
    col = total(lambda i: (desc[i : i + chunk] - mean_col).square_().sum(0, dtype=torch.float64))
    std = (col.view(channels, -1).sum(1) / count).sqrt()
    if not bool((std > 0).all()):
        raise UserError("SWD: a set of images is constant in some channel (zero variance); cannot normalise")
    desc.sub_(mean_col).div_(std.repeat_interleave(dim // channels).float())


def _sort_rows_(arr: np.ndarray) -> np.ndarray:
    """Sort each row in place, a block of rows per core (NumPy's sort releases the GIL)."""
    workers = max(1, min(torch.get_num_threads(), arr.shape[0]))
    bounds = np.linspace(0, arr.shape[0], workers + 1).astype(int)
    map_batches(lambda i: arr[bounds[i] : bounds[i + 1]].sort(axis=1), range(workers), torch.device("cpu"))
    return arr


def _projected_w1_sum(
    a: torch.Tensor, b: torch.Tensor, w: torch.Tensor, bufs: "tuple[np.ndarray, np.ndarray] | None"
) -> float:
    """Sum over directions (rows of ``w``) and ranks of |sorted(a w) - sorted(b w)|.

    On CPU the projections go into the caller's reused buffers ``bufs`` ([>= k, M] float32 each): a fresh
    256 MB result per product costs more in page faults than the product itself.
    """
    if a.device.type == "cpu":  # NumPy's BLAS call and SIMD sort are 2-15x faster than torch's on CPU
        assert bufs is not None
        wn = w.numpy()
        k = wn.shape[0]
        pa = _sort_rows_(np.matmul(wn, a.numpy().T, out=bufs[0][:k]))  # [k, M] with contiguous rows
        pb = _sort_rows_(np.matmul(wn, b.numpy().T, out=bufs[1][:k]))
        np.abs(np.subtract(pa, pb, out=pa), out=pa)
        return float(pa.sum(axis=1).sum(dtype=np.float64))  # pairwise float32 per row: ~1e-7 relative
    ta = torch.mm(w, a.T).sort(dim=1).values
    tb = torch.mm(w, b.T).sort(dim=1).values
    return float(ta.sub_(tb).abs_().sum(dtype=torch.float64))


def _sliced_distance(
    a: torch.Tensor,
    b: torch.Tensor,
    gen: torch.Generator,
    tile_gray: bool,
    chunk: int,
    bufs: "tuple[np.ndarray, np.ndarray] | None",
) -> float:
    """Mean over repeats of the mean |sorted proj(a) - sorted proj(b)| over descriptors and directions,
    ``chunk`` directions at a time."""
    m, dim = a.shape
    full_dim = dim * RGB if tile_gray else dim
    repeats = []
    for _ in range(DIR_REPEATS):
        dirs = torch.randn(full_dim, DIRS_PER_REPEAT, generator=gen, dtype=torch.float64)
        dirs /= dirs.square().sum(dim=0, keepdim=True).sqrt()
        if tile_gray:  # d_tiled . w == d . (w_r + w_g + w_b)
            dirs = dirs.view(RGB, dim, DIRS_PER_REPEAT).sum(dim=0)
        w_all = dirs.T.contiguous().float().to(a.device)  # [directions, dim]
        total = sum(_projected_w1_sum(a, b, w_all[j : j + chunk], bufs)
                    for j in range(0, DIRS_PER_REPEAT, chunk))
        repeats.append(total / (m * DIRS_PER_REPEAT))
    return float(np.mean(repeats))


def sliced_wasserstein(
    reals: "np.ndarray | torch.Tensor | ImageSource",
    fakes: "np.ndarray | torch.Tensor | ImageSource",
    *,
    seed: int = 0,
    device: "str | torch.device | None" = None,
    batch_size: int | None = None,
    max_bytes: int = 2 << 30,
    cache_bytes: int = 2 << 30,
) -> dict[str, float]:
    """SWD x1e3 per pyramid level (keys '128', '64', ..., '16') and their average ('avg').

    Karras et al. 2018; the reference protocol is described in the module docstring. ``reals`` and
    ``fakes`` are uint8 [N, C, H, W] arrays or tensors (memory-mapped arrays are read in batches) with
    the same N, C (1 or 3) and square H = W. ``batch_size`` images are filtered at a time (default: about
    1M values at each level, so the filter passes run in cache); ``max_bytes`` bounds the projection buffers
    and ``cache_bytes`` the Gaussian level kept per set (larger levels are recomputed batch by batch).
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
    if any(r % 2 for r in resolutions[:-1]):
        raise UserError(f"SWD: the {a.resolution}x{a.resolution} pyramid halves to an odd size above 16 px "
                        f"({resolutions}); use images whose size halves evenly down to 16 "
                        "(e.g. a power of two)")
    out: dict[str, float] = {}
    sources = [_GaussianLevel(a), _GaussianLevel(b)]
    # Every level has N*P descriptors of the same size (7x7 at every level >= 16 px), so the descriptor and
    # projection buffers are allocated once (a fresh 256 MB projection result per product cost 3.7x the
    # product itself in page faults here).
    m = n * PATCHES_PER_IMAGE
    patch0 = _patch_size(resolutions[0])
    descs = [torch.empty(m, a.channels * patch0 * patch0, device=dev) for _ in range(2)]
    chunk = max(1, min(DIRS_PER_REPEAT, max_bytes // (2 * 4 * m)))
    bufs = (np.empty((chunk, m), np.float32), np.empty((chunk, m), np.float32)) if dev.type == "cpu" else None
    for level, res in enumerate(resolutions):
        patch = _patch_size(res)
        assert patch == patch0
        lo, hi = patch // 2, res - patch // 2  # centres so that the whole neighbourhood fits
        last = level == len(resolutions) - 1
        keep = not last and n * a.channels * (res // 2) ** 2 * 4 <= cache_bytes
        for i, src in enumerate(sources):
            centres = torch.randint(lo, hi, (n, PATCHES_PER_IMAGE, 2), generator=gen)
            nxt = _level_descriptors(src, last, keep, centres, patch, dev,
                                     batch_size or cache_batch(src.base), descs[i])
            _normalise_(descs[i], src.channels)
            sources[i] = (_GaussianLevel(ImageSource(nxt)) if nxt is not None
                          else _GaussianLevel(src.base, src.downs + 1))
        out[str(res)] = _sliced_distance(descs[0], descs[1], gen, tile_gray, chunk, bufs) * 1e3
    out["avg"] = float(np.mean([out[str(r)] for r in resolutions]))
    return out
