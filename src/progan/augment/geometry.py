"""Geometric augmentation: batched 2-D homogeneous matrices and one resampling per image.

As in ADA (Karras et al. 2020, Appendix B.2), all geometric operations are composed into one matrix
per image, ``G_inv``, which maps output pixel coordinates to input ones (origin at the image centre,
x to the right, y down), and the image is resampled once: reflect-padded as far as the transform
reaches, upsampled 2x with the orthogonal ``sym6`` wavelet low-pass, sampled bilinearly, and
filtered and decimated 2x with the same low-pass. Because that filter is orthogonal, the
down-sampling is the exact adjoint-inverse of the up-sampling, so the identity transform returns the
input up to float rounding.

Ours: an image whose transform maps every pixel centre onto a pixel centre (any mix of x-flips,
90-degree rotations and integer translations, the "blit" group alone) is moved by indexing, with
reflection outside the image, and is therefore exact; the others take the filtered resampling path.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

# Low-pass decomposition filter of the Symlet-6 wavelet (12 taps; sums to sqrt(2), orthogonal to its
# even shifts). Published coefficients (Daubechies, "Ten Lectures on Wavelets"; PyWavelets' ``sym6``).
SYM6 = (
    0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
    0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
    -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
)


# -- matrices (float64, shape [n, 3, 3]) ------------------------------------------------------------
def _stack(rows: list[list[Tensor | float]], like: Tensor) -> Tensor:
    n = like.shape[0]
    cols = [e if isinstance(e, Tensor) else torch.full((n,), float(e), dtype=like.dtype, device=like.device)
            for row in rows for e in row]
    return torch.stack(cols, dim=-1).reshape(n, len(rows), len(rows[0]))


def translate(tx: Tensor, ty: Tensor) -> Tensor:
    return _stack([[1, 0, tx], [0, 1, ty], [0, 0, 1]], tx)


def scale(sx: Tensor, sy: Tensor) -> Tensor:
    return _stack([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], sx)


def rotate(cos: Tensor, sin: Tensor) -> Tensor:
    """Rotation by the angle whose cosine and sine are given (exact entries for multiples of 90 degrees)."""
    return _stack([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], cos)


# -- execution ----------------------------------------------------------------------------------------
def _centred(size: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    return torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2


def _map_grid(G_inv: Tensor, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor]:
    """``G_inv`` applied to every point of the grid ``xs`` x ``ys``: input x and y, each
    [n, len(ys), len(xs)]."""
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    a = G_inv[:, None, None]
    return (a[..., 0, 0] * xx + a[..., 0, 1] * yy + a[..., 0, 2],
            a[..., 1, 0] * xx + a[..., 1, 1] * yy + a[..., 1, 2])


def source_coords(G_inv: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Input pixel indices (float, [n, H, W] each for x and y) that every output pixel centre maps to."""
    vx, vy = _map_grid(G_inv, _centred(width, G_inv.dtype, G_inv.device),
                       _centred(height, G_inv.dtype, G_inv.device))
    return vx + (width - 1) / 2, vy + (height - 1) / 2


def reflect_index(i: Tensor, size: int) -> Tensor:
    """Mirror integer indices into ``[0, size)`` without repeating the edge pixel (``F.pad``'s 'reflect')."""
    if size == 1:
        return torch.zeros_like(i)
    period = 2 * (size - 1)
    i = torch.remainder(i, period)
    return torch.where(i >= size, period - i, i)


def reflect_pad(images: Tensor, px: int, py: int) -> Tensor:
    """Mirror padding by any amount (``F.pad``'s 'reflect' stops at size - 1; small images need more)."""
    h, w = images.shape[-2:]
    if px:
        idx = reflect_index(torch.arange(-px, w + px, device=images.device), w)
        images = images.index_select(-1, idx)
    if py:
        idx = reflect_index(torch.arange(-py, h + py, device=images.device), h)
        images = images.index_select(-2, idx)
    return images


def apply_subset(images: Tensor, mask: Tensor, fn: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    """``fn(images[i], i)`` for the images where ``mask`` is set; the others pass through untouched."""
    idx = mask.nonzero().flatten()
    if idx.numel() == 0:
        return images
    if idx.numel() == images.shape[0]:
        return fn(images, idx)
    return images.index_copy(0, idx, fn(images[idx], idx))


def is_pixel_permutation(G_inv: Tensor, height: int, width: int) -> Tensor:
    """[n] bool: the transform sends every output pixel centre exactly onto an input pixel centre."""
    sx, sy = source_coords(G_inv, height, width)
    return ((sx == sx.round()) & (sy == sy.round())).flatten(1).all(dim=1)


def blit(images: Tensor, G_inv: Tensor) -> Tensor:
    """Exact move of whole pixels (G_inv must be a pixel permutation), reflecting outside the image."""
    n, c, h, w = images.shape
    sx, sy = source_coords(G_inv, h, w)
    ix = reflect_index(sx.round().long(), w)
    iy = reflect_index(sy.round().long(), h)
    flat = (iy * w + ix).reshape(n, 1, h * w).expand(n, c, h * w)
    return images.reshape(n, c, h * w).gather(2, flat).reshape(n, c, h, w)


def _filter_taps(dtype: torch.dtype, device: torch.device) -> Tensor:
    return torch.tensor(SYM6, dtype=dtype, device=device)


# Where sym6 is centred: its delay at DC, sum(k f[k]) / sum(f[k]) = 5.098 taps (not (12 - 1) / 2: the
# filter is only nearly symmetric). Placing the 2x samples by this delay makes flips and rotations
# through the resampling agree with the ideal ones to ~4e-3 on smooth images instead of ~8e-2.
_SYM6_DELAY = sum(k * v for k, v in enumerate(SYM6)) / sum(SYM6)


def _needed_padding(G_inv: Tensor, size_x: int, size_y: int, taps: int, c: float) -> tuple[int, int]:
    """Reflect padding (x, y) so that every position the resampling reads lies inside the padded image
    with a whole filter support around it."""
    # Output samples of the 2x grid span (k - c) / 2 - (size - 1) / 2 for k in [0, 2 size + taps - 2).
    ex = (2 * size_x + taps - 3 - c) / 2 - (size_x - 1) / 2
    ey = (2 * size_y + taps - 3 - c) / 2 - (size_y - 1) / 2
    corners = torch.tensor([[-ex, -ey, 1], [ex, -ey, 1], [-ex, ey, 1], [ex, ey, 1]], dtype=G_inv.dtype,
                           device=G_inv.device)
    reach = (G_inv @ corners.T)[:, :2].abs().amax(dim=(0, 2))   # farthest input |x|, |y|
    # A sample at padded position q needs data within about (taps / 2 + 1) / 2 of q (filter + bilinear).
    margin = (taps / 2 + 1) / 2
    px = max(math.ceil(float(reach[0]) - (size_x - 1) / 2 + margin), 0)
    py = max(math.ceil(float(reach[1]) - (size_y - 1) / 2 + margin), 0)
    return px, py


def resample(images: Tensor, G_inv: Tensor) -> Tensor:
    """Apply ``G_inv`` (output -> input, [n, 3, 3]) with ADA's filtered resampling; differentiable in
    ``images``."""
    n, c, h, w = images.shape
    dtype, device = images.dtype, images.device
    f = _filter_taps(dtype, device)
    taps = f.numel()
    centre = _SYM6_DELAY
    px, py = _needed_padding(G_inv, w, h, taps, centre)
    x = reflect_pad(images, px, py)
    hp, wp = h + 2 * py, w + 2 * px

    # 2x up-sampling, separable: y[m] = sum_j x[j] * sqrt(2) f[m - 2j] (the filter then sums to 2: DC kept).
    up = f * math.sqrt(2)
    x = x.reshape(n * c, 1, hp, wp)
    x = F.conv_transpose2d(x, up.view(1, 1, 1, taps), stride=(1, 2))
    x = F.conv_transpose2d(x, up.view(1, 1, taps, 1), stride=(2, 1))
    uh, uw = x.shape[-2:]                                       # 2 (size - 1) + taps
    x = x.reshape(n, c, uh, uw)

    # Output grid: exactly the 2x samples the decimation below reads (2 size + taps - 2 per axis).
    gdt = G_inv.dtype
    kx = torch.arange(2 * w + taps - 2, dtype=gdt, device=device)
    ky = torch.arange(2 * h + taps - 2, dtype=gdt, device=device)
    vx, vy = _map_grid(G_inv, (kx - centre) / 2 - (w - 1) / 2, (ky - centre) / 2 - (h - 1) / 2)
    # Input position -> index in the up-sampled padded image -> grid_sample's [-1, 1] (align_corners=True).
    mx = 2 * (vx + px + (w - 1) / 2) + centre
    my = 2 * (vy + py + (h - 1) / 2) + centre
    grid = torch.stack([2 * mx / (uw - 1) - 1, 2 * my / (uh - 1) - 1], dim=-1).to(dtype)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)

    # Low-pass and decimate with the adjoint of the up-sampling: z[i] = sum_k f[k] / sqrt(2) y[2i + k].
    down = f / math.sqrt(2)
    x = x.reshape(n * c, 1, *x.shape[-2:])
    x = F.conv2d(x, down.view(1, 1, 1, taps), stride=(1, 2))
    x = F.conv2d(x, down.view(1, 1, taps, 1), stride=(2, 1))
    return x.reshape(n, c, h, w)


def warp(images: Tensor, G_inv: Tensor) -> Tensor:
    """Apply per-image transforms: identities untouched (bit for bit), pixel permutations by exact
    indexing, everything else by :func:`resample`."""
    h, w = images.shape[-2:]
    eye = torch.eye(3, dtype=G_inv.dtype, device=G_inv.device)
    moved = ~(G_inv == eye).flatten(1).all(dim=1)
    if not bool(moved.any()):
        return images
    exact = is_pixel_permutation(G_inv, h, w) & moved
    images = apply_subset(images, exact, lambda x, i: blit(x, G_inv[i]))
    return apply_subset(images, moved & ~exact, lambda x, i: resample(x, G_inv[i]))
