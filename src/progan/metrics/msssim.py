"""Multi-scale SSIM of consecutive pairs of generated images, the variety measure of Karras et al. 2018.

Matches ``metrics/ms_ssim.py`` of github.com/tkarras/progressive_growing_of_gans (itself the TF models
``MultiScaleSSIM`` with per-image averaging): 5 scales with weights [0.0448, 0.2856, 0.3001, 0.2363,
0.1333]; an 11x11 Gaussian window, sigma 1.5, shrunk to min(11, H, W) with sigma scaled alike; 'valid'
filtering; k1 = 0.01, k2 = 0.03, max value 255; 2x2 box-average downsampling. SSIM and contrast-structure
maps are averaged over height, width **and channels** at each scale, clipped at 0, and the weighted
product over scales is taken per pair; the result is the mean over pairs (images 0-1, 2-3, ...).

The separable filter equals the reference's 2-D window (it is an outer product). Variances are formed
from values centred at 127.5, which leaves them unchanged but avoids float32 cancellation.
"""

from __future__ import annotations

import numpy as np
import torch

from progan.errors import UserError
from progan.metrics._filters import fir
from progan.metrics._images import ImageSource, as_image_source, cache_batch
from progan.metrics._threads import map_batches

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03
MAX_VALUE = 255.0
MIN_RESOLUTION = 2 ** (len(WEIGHTS) - 1)

__all__ = ["ms_ssim", "ms_ssim_pairs", "gaussian_window"]


def gaussian_window(size: int, sigma: float) -> np.ndarray:
    """Normalised 1-D window whose outer product is the reference's ``_FSpecialGauss(size, sigma)``."""
    radius = size // 2
    if size % 2 == 0:
        t = np.arange(-radius, radius, dtype=np.float64) + 0.5
    else:
        t = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-(t**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(x: torch.Tensor, taps: list[float]) -> torch.Tensor:
    return fir(fir(x, taps, 3), taps, 2)


def _ssim_cs(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair mean SSIM and contrast-structure at one scale (means over C, H, W).

    In-place arithmetic on one buffer: the maps are the dominant memory traffic on CPU.
    """
    size = min(WINDOW, x.shape[-2], x.shape[-1])
    taps = gaussian_window(size, size * SIGMA / WINDOW).tolist()
    n, c, h, w = x.shape
    buf = torch.empty(n, 5 * c, h, w, dtype=x.dtype, device=x.device)
    xc = torch.sub(x, 127.5, out=buf[:, :c])
    yc = torch.sub(y, 127.5, out=buf[:, c : 2 * c])
    torch.mul(xc, xc, out=buf[:, 2 * c : 3 * c])
    torch.mul(yc, yc, out=buf[:, 3 * c : 4 * c])
    torch.mul(xc, yc, out=buf[:, 4 * c :])
    m1, m2, e11, e22, e12 = _filter_valid(buf, taps).split(c, dim=1)
    c1, c2 = (K1 * MAX_VALUE) ** 2, (K2 * MAX_VALUE) ** 2
    e12.sub_(m1 * m2).mul_(2.0).add_(c2)                            # v1 = 2 sigma12 + c2
    e11.sub_(m1 * m1).add_(e22.sub_(m2 * m2)).add_(c2)              # v2 = sigma11 + sigma22 + c2
    cs = e12.div_(e11)
    mu1, mu2 = m1.add_(127.5), m2.add_(127.5)
    lum = torch.mul(mu1, mu2).mul_(2.0).add_(c1).div_(mu1.square_().add_(mu2.square_()).add_(c1))
    ssim = lum.mul_(cs)
    return ssim.mean(dim=(1, 2, 3)).double(), cs.mean(dim=(1, 2, 3)).double()


def _box_down(x: torch.Tensor) -> torch.Tensor:
    """2x2 box average (the reference's _HoxDownsample), faster on CPU than avg_pool2d."""
    return (x[:, :, 0::2, 0::2] + x[:, :, 1::2, 0::2] + x[:, :, 0::2, 1::2] + x[:, :, 1::2, 1::2]).mul_(0.25)


def ms_ssim_pairs(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """MS-SSIM of each pair (x[i], y[i]); float images on the 0..255 scale, [N, C, H, W] -> float64 [N]."""
    x, y = x.float(), y.float()
    ssims, css = [], []
    for scale in range(len(WEIGHTS)):
        s, c = _ssim_cs(x, y)
        ssims.append(s)
        css.append(c)
        if scale < len(WEIGHTS) - 1:
            x, y = _box_down(x), _box_down(y)
    w = torch.tensor(WEIGHTS, dtype=torch.float64, device=x.device)
    cs = torch.stack(css[:-1]).clamp_min(0.0)
    last = ssims[-1].clamp_min(0.0)
    return (cs ** w[:-1, None]).prod(dim=0) * last ** w[-1]


def ms_ssim(
    images: "np.ndarray | torch.Tensor | ImageSource",
    *,
    device: "str | torch.device | None" = None,
    batch_size: int | None = None,
) -> float:
    """Mean MS-SSIM over consecutive pairs (0-1, 2-3, ...) of uint8 [N, C, H, H] images; lower = more variety.

    Karras et al. 2018 (10,000 pairs); protocol in the module docstring. An odd last image is ignored.
    """
    src = as_image_source(images, "images")
    if len(src) < 2:
        raise UserError("MS-SSIM needs at least 2 images (one pair)")
    if src.resolution < MIN_RESOLUTION:
        raise UserError(f"MS-SSIM needs images of at least {MIN_RESOLUTION}x{MIN_RESOLUTION} for its "
                        f"{len(WEIGHTS)} scales, got {src.resolution}x{src.resolution}")
    dev = torch.device(device) if device is not None else torch.device("cpu")
    n = len(src) // 2 * 2
    # Half-cache-sized batches: each of the per-core workers then keeps its five maps in its own cache.
    step = max(2, (batch_size or cache_batch(src, pixels=1 << 19)) // 2 * 2)

    def batch_sum(start: int) -> float:
        b = src.batch(start, min(n, start + step), dev)
        return float(ms_ssim_pairs(b[0::2], b[1::2]).sum())

    # Summed in batch order, so the result does not depend on the number of workers.
    return sum(map_batches(batch_sum, range(0, n, step), dev)) / (n // 2)
