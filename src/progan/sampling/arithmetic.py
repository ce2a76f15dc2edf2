"""Latent vector arithmetic on averaged latents (Radford et al. 2016, DCGAN Sec. 6.3.2, Fig. 7):
``mean(base) + mean(plus) - mean(minus)``, rendered as a labelled sheet.

Averaging several latents per concept, as DCGAN does, keeps the result stable. A ProGAN generator
pixel-normalises its latents, so every average and the result are put back on the sphere of radius
``sqrt(z_dim)`` (:func:`progan.sampling.latents.normalize_like`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import Tensor

from progan.errors import UserError
from progan.images import make_grid, save_image, to_uint8
from progan.sampling._draw import label_above, to_rgb
from progan.sampling._io import check_output_file, label_tensor, load_network, synthesize
from progan.sampling.latents import latents_for_seeds, normalize_like

__all__ = ["ArithmeticResult", "arithmetic", "arithmetic_latent"]

_SHEET_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def arithmetic_latent(base: Tensor, plus: Tensor, minus: Tensor | None = None,
                      G: torch.nn.Module | None = None) -> Tensor:
    """``mean(base) + mean(plus) - mean(minus)`` as ``[1, D]``, renormalised when ``G`` normalises latents."""
    z = base.mean(0, keepdim=True) + plus.mean(0, keepdim=True)
    if minus is not None and len(minus):
        z = z - minus.mean(0, keepdim=True)
    return normalize_like(z, G) if G is not None else z


@dataclass
class ArithmeticResult:
    path: Path
    z: Tensor            # [1, D] the result latent
    image: np.ndarray    # uint8 CHW of the result


def _row(images: np.ndarray, mean: np.ndarray | None, scale: int, gap: int) -> np.ndarray:
    tiles = [to_rgb(make_grid(images, cols=len(images), size=images.shape[2] * scale))]
    if mean is not None:
        tiles += [np.zeros((tiles[0].shape[0], gap, 3), np.uint8),
                  to_rgb(make_grid(mean[None], size=mean.shape[1] * scale))]
    return np.concatenate(tiles, axis=1)


def _pad_width(row: np.ndarray, width: int) -> np.ndarray:
    return np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)))


def arithmetic(
    network: str | os.PathLike[str] | torch.nn.Module,
    out: str | os.PathLike[str],
    *,
    base: Sequence[int],
    plus: Sequence[int],
    minus: Sequence[int] = (),
    class_: int | None = None,
    truncation: float | None = None,
    device: str | torch.device = "cpu",
    min_tile: int = 64,
) -> ArithmeticResult:
    """Render a sheet: one labelled row per group (its seeds' images, then the image of their mean
    latent) and a last row with the result of ``mean(base) + mean(plus) - mean(minus)``.

    For a conditional G every image, and the result, uses class ``class_``.
    """
    path = check_output_file(out, _SHEET_SUFFIXES)
    if not base or not plus:
        raise UserError("arithmetic needs at least one --base seed and one --plus seed")
    G = load_network(network, device)
    z_dim = cast(int, G.z_dim)
    groups = {"base": list(base), "plus": list(plus), "minus": list(minus)}
    lat = {k: latents_for_seeds(v, z_dim, truncation=truncation) for k, v in groups.items() if v}
    means = {k: normalize_like(z.mean(0, keepdim=True), G) for k, z in lat.items()}
    result = arithmetic_latent(lat["base"], lat["plus"], lat.get("minus"), G)
    names = list(lat)
    z_all = torch.cat([lat[k] for k in names] + [means[k] for k in names] + [result])
    labels = label_tensor(G, None if class_ is None else [class_], len(z_all))
    u8 = to_uint8(synthesize(G, z_all, labels)).numpy()
    res = u8.shape[2]
    scale = max(1, -(-min_tile // res))
    band = max(16, min(28, res * scale // 3))
    band += band % 2
    rows, offset = [], 0
    for i, k in enumerate(names):
        n = len(lat[k])
        mean_img = u8[sum(len(lat[m]) for m in names) + i]
        seeds_txt = ",".join(map(str, groups[k][:8])) + ("..." if n > 8 else "")
        tiles = _row(u8[offset:offset + n], mean_img, scale, res * scale // 4)
        rows.append((f"{k} (seeds {seeds_txt}) | mean", tiles))
        offset += n
    sign = " - mean(minus)" if "minus" in lat else ""
    rows.append((f"result: mean(base) + mean(plus){sign}", _row(u8[-1:], None, scale, 0)))
    width = max(r.shape[1] for _, r in rows)
    sheet = np.concatenate([label_above(_pad_width(r, width), text, band) for text, r in rows], axis=0)
    save_image(sheet, path)
    return ArithmeticResult(path=path, z=result, image=u8[-1])
