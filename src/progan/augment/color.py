"""Colour and image-space filtering operations of ADA (Karras et al. 2020, Appendix B.3-B.4).

Colour: the operations are composed into one 4x4 homogeneous matrix per image acting on (R, G, B, 1),
images in [-1, 1] (0 is mid-grey): brightness adds b to every channel, contrast scales by c, luma flip
reflects along the luma axis v = (1, 1, 1) / sqrt(3), hue rotates about v, saturation scales the
component orthogonal to v. A grey image is treated as R = G = B and the three outputs are averaged.

Filtering: a bank of four zero-phase bands (octaves from Nyquist down, plus the low-pass rest) built
from the ``sym2`` wavelet's half-band pair, which sums to the identity; each band's gain is drawn
log-normally and the gains are normalised so that the expected power of an image with a 1/f spectrum
(band powers 10:1:1:1) stays the same. The combined filter is applied along x and y.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from progan.augment.geometry import reflect_pad

LUMA = (1 / math.sqrt(3),) * 3

# Low-pass decomposition filter of the Symlet-2 (= Daubechies-2) wavelet; published coefficients.
SYM2 = (-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025)
BAND_POWER = (10 / 13, 1 / 13, 1 / 13, 1 / 13)   # expected power per band, low to high (1/f spectrum)


def _identity4(n: int, like: Tensor) -> Tensor:
    return torch.eye(4, dtype=like.dtype, device=like.device).expand(n, 4, 4).clone()


def _luma(like: Tensor) -> Tensor:
    return torch.tensor(LUMA, dtype=like.dtype, device=like.device)


def brightness(b: Tensor) -> Tensor:
    m = _identity4(b.shape[0], b)
    m[:, :3, 3] = b[:, None]
    return m


def contrast(c: Tensor) -> Tensor:
    m = _identity4(c.shape[0], c)
    m[:, 0, 0] = m[:, 1, 1] = m[:, 2, 2] = c
    return m


def luma_flip(flip: Tensor) -> Tensor:
    """Householder reflection ``I - 2 v v^T`` where ``flip`` is 1, identity where it is 0."""
    v = _luma(flip)
    m = _identity4(flip.shape[0], flip)
    m[:, :3, :3] -= 2 * torch.outer(v, v) * flip[:, None, None]
    return m


def hue_rotation(theta: Tensor) -> Tensor:
    """Rotation by ``theta`` about the luma axis (Rodrigues' formula)."""
    v = _luma(theta)
    k = torch.tensor([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]],
                     dtype=theta.dtype, device=theta.device)
    s, c = torch.sin(theta)[:, None, None], torch.cos(theta)[:, None, None]
    m = _identity4(theta.shape[0], theta)
    eye = torch.eye(3, dtype=theta.dtype, device=theta.device)
    m[:, :3, :3] = c * eye + s * k + (1 - c) * torch.outer(v, v)
    return m


def saturation(s: Tensor) -> Tensor:
    v = _luma(s)
    vv = torch.outer(v, v)
    m = _identity4(s.shape[0], s)
    m[:, :3, :3] = vv + (torch.eye(3, dtype=s.dtype, device=s.device) - vv) * s[:, None, None]
    return m


def apply_color(images: Tensor, C: Tensor) -> Tensor:
    """``C @ (rgb, 1)`` per image ([n, 4, 4]); 1 channel: the mean of the three outputs of (x, x, x, 1)."""
    n, ch, h, w = images.shape
    C = C.to(images.dtype)
    x = images.reshape(n, ch, h * w)
    if ch == 3:
        out = torch.baddbmm(C[:, :3, 3:], C[:, :3, :3], x)
    elif ch == 1:
        gain = C[:, :3, :3].sum(dim=2).mean(dim=1)
        offset = C[:, :3, 3].mean(dim=1)
        out = x * gain[:, None, None] + offset[:, None, None]
    else:
        raise ValueError(f"colour operations need 1 or 3 channels, got {ch}")
    return out.reshape(n, ch, h, w)


def _dilate(f: np.ndarray, factor: int) -> np.ndarray:
    out = np.zeros((len(f) - 1) * factor + 1)
    out[::factor] = f
    return out


def filter_bank() -> np.ndarray:
    """[4, taps] zero-phase band filters, low to high, summing to a unit impulse."""
    lo = np.asarray(SYM2)
    hi = lo * (-1.0) ** np.arange(len(lo))
    lo2 = np.convolve(lo, lo[::-1]) / 2          # half-band pair: lo2 + hi2 = impulse
    hi2 = np.convolve(hi, hi[::-1]) / 2
    bands, low = [], np.ones(1)
    for octave in range(3):
        bands.append(np.convolve(low, _dilate(hi2, 2**octave)))
        low = np.convolve(low, _dilate(lo2, 2**octave))
    bands.append(low)
    taps = max(len(b) for b in bands)
    bank = np.zeros((len(bands), taps))
    for i, b in enumerate(bands[::-1]):
        start = (taps - len(b)) // 2
        bank[i, start:start + len(b)] = b
    return bank


def band_gains(raw: Tensor) -> Tensor:
    """Per-image band gains [n, 4] from raw amplifications [n, 4] (1 = band untouched), each band's
    amplification normalised so that the expected power stays the same (ADA's accumulation)."""
    power = torch.tensor(BAND_POWER, dtype=raw.dtype, device=raw.device)
    g = torch.ones_like(raw)
    for i in range(raw.shape[1]):
        t = torch.ones_like(raw)
        t[:, i] = raw[:, i]
        g = g * t / (power * t.square()).sum(dim=1, keepdim=True).sqrt()
    return g


def apply_filter(images: Tensor, gains: Tensor, bank: Tensor) -> Tensor:
    """Filter each image with ``gains @ bank`` along x and then y (reflect padding)."""
    n, ch, h, w = images.shape
    taps = (gains.to(bank.dtype) @ bank).to(images.dtype)                  # [n, taps]
    k = taps.shape[1]
    weight = taps.repeat_interleave(ch, dim=0)                              # [n * ch, taps]
    x = reflect_pad(images, k // 2, k // 2).reshape(1, n * ch, h + k - 1, w + k - 1)
    x = F.conv2d(x, weight.view(n * ch, 1, 1, k), groups=n * ch)
    x = F.conv2d(x, weight.view(n * ch, 1, k, 1), groups=n * ch)
    return x.reshape(n, ch, h, w)
