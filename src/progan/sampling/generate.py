"""Images from seeds: one PNG per seed (and class), or grids, plus optional raw float arrays.

As ``generate.py`` of stylegan2-ada-pytorch: a seed names one image, on every run, device and
batch size (see :mod:`progan.sampling.latents`). Conversion to uint8 is
:func:`progan.images.to_uint8` (float32 arithmetic, rounding, clipping to [0, 255]).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from progan.errors import UserError
from progan.images import make_grid, save_image, to_uint8
from progan.sampling._io import check_output_dir, label_tensor, load_network, synthesize
from progan.sampling.latents import check_classes, latents_for_seeds

__all__ = ["generate", "generate_images", "grid_pages"]


def generate_images(
    G: torch.nn.Module,
    seeds: Sequence[int],
    *,
    classes: Sequence[int] | None = None,
    truncation: float | None = None,
    batch_size: int = 32,
    progress: bool = False,
) -> Tensor:
    """Float images ``[len(seeds), C, R, R]`` (CPU, G's range [-1, 1]) of ``seeds``.

    ``classes`` holds one class for all seeds or one per seed (conditional G only).
    """
    z = latents_for_seeds(seeds, cast(int, G.z_dim), truncation=truncation)
    labels = label_tensor(G, classes, len(seeds))
    with tqdm(total=len(seeds), unit="img", desc="generate", disable=not progress) as bar:
        return synthesize(G, z, labels, batch_size=batch_size, bar=bar)


def grid_pages(images: np.ndarray, cols: int, rows: int, conditional: bool) -> list[np.ndarray]:
    """Tile uint8 images ``[K, S, C, R, R]`` (K classes x S seeds) into grid pages of ``cols x rows``.

    Conditional: one row per class and one column per seed, pages cut along both axes.
    Unconditional (K = 1): seeds fill each page row by row.
    """
    k, s = images.shape[:2]
    pages = []
    if not conditional:
        flat = images.reshape(k * s, *images.shape[2:])
        for start in range(0, len(flat), cols * rows):
            pages.append(make_grid(flat[start:start + cols * rows], cols=cols))
        return pages
    for c0 in range(0, k, rows):
        for s0 in range(0, s, cols):
            block = images[c0:c0 + rows, s0:s0 + cols]
            pages.append(make_grid(block.reshape(-1, *images.shape[2:]), cols=block.shape[1]))
    return pages


def _save_npz(path: Path, **arrays: np.ndarray) -> Path:
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.npz")
    # mypy matches the unpacked names against savez's allow_pickle: bool; they are array names.
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)
    return path


def generate(
    network: str | os.PathLike[str] | torch.nn.Module,
    seeds: Sequence[int],
    outdir: str | os.PathLike[str],
    *,
    truncation: float | None = None,
    classes: Sequence[int] | None = None,
    grid: tuple[int, int] | None = None,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    npz: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write ``seed%04d.png`` per seed (``seed%04d-class%03d.png`` for a conditional G), or grid pages
    ``grid%03d.png`` when ``grid=(cols, rows)``; with ``npz``, also ``images.npz`` holding the float
    images, seeds, labels (-1 when unconditional) and latents. Returns the written paths.

    A conditional G without ``classes`` renders every class; its grids have one row per class.
    """
    if not seeds:
        raise UserError("no seeds given")
    out = check_output_dir(outdir)
    G = load_network(network, device)
    num_classes = int(getattr(G, "num_classes", 0) or 0)
    check_classes(classes, num_classes)
    class_list: list[int | None] = (list(classes) if classes
                                    else list(range(num_classes)) if num_classes else [None])
    z = latents_for_seeds(seeds, cast(int, G.z_dim), truncation=truncation)
    written: list[Path] = []
    u8 = np.zeros((len(class_list), len(seeds), cast(int, G.channels), cast(int, G.output_resolution),
                   cast(int, G.output_resolution)), dtype=np.uint8) if grid else None
    floats: list[Tensor] = []
    with tqdm(total=len(seeds) * len(class_list), unit="img", desc="generate", disable=not progress) as bar:
        for ci, c in enumerate(class_list):
            labels = None if c is None else torch.full((len(seeds),), c, dtype=torch.long)
            for start in range(0, len(seeds), batch_size):
                lb = None if labels is None else labels[start:start + batch_size]
                imgs = synthesize(G, z[start:start + batch_size], lb, batch_size=batch_size)
                bar.update(len(imgs))
                if npz:
                    floats.append(imgs)
                batch_u8 = to_uint8(imgs).numpy()
                if u8 is not None:
                    u8[ci, start:start + len(imgs)] = batch_u8
                    continue
                for j, img in enumerate(batch_u8):
                    name = f"seed{seeds[start + j]:04d}" + ("" if c is None else f"-class{c:03d}") + ".png"
                    written.append(save_image(make_grid(img[None]), out / name))
    if u8 is not None and grid is not None:
        for i, page in enumerate(grid_pages(u8, grid[0], grid[1], conditional=class_list[0] is not None)):
            written.append(save_image(page, out / f"grid{i:03d}.png"))
    if npz:
        per_class = np.array([-1 if c is None else c for c in class_list], dtype=np.int64)
        labels_np = np.repeat(per_class, len(seeds))
        written.append(_save_npz(
            out / "images.npz",
            images=torch.cat(floats).numpy(),
            seeds=np.tile(np.asarray(seeds, dtype=np.int64), len(class_list)),
            labels=labels_np,
            z=np.tile(z.numpy(), (len(class_list), 1)),
        ))
    return written
