"""Latent interpolation videos: slerp / lerp through seeds, or the ProGAN paper's smoothed random walk.

The walk follows the result video of Karras et al. 2018 (TF release ``generate_interpolation_video``):
i.i.d. normal latents per frame, smoothed over time with a Gaussian filter (wrapping, so the video
loops), then put back on the sphere of radius ``sqrt(z_dim)`` where normal latents concentrate.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import cast

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from torch import Tensor
from tqdm import tqdm

from progan.errors import UserError
from progan.images import make_grid, to_uint8
from progan.sampling._io import label_tensor, load_network, synthesize
from progan.sampling.latents import latents_for_seeds
from progan.sampling.video import VideoWriter, check_video_path

__all__ = [
    "MODES",
    "check_interpolation",
    "interpolate",
    "interpolation_latents",
    "keyframe_path",
    "lerp",
    "random_walk",
    "render_frames",
    "slerp",
]

MODES = ("slerp", "lerp", "walk")


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Straight line ``a + t (b - a)``; ``t`` broadcasts as ``[..., 1]``."""
    return a + t * (b - a)


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016 "Sampling generative networks") of the rows
    of ``a`` and ``b``, with norms interpolated linearly; ``t = 0`` gives ``a`` and ``t = 1`` gives ``b``.
    Falls back to lerp where the two directions are (anti)parallel.
    """
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    cos = (ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    so = torch.sin(omega)
    safe = so.abs() > 1e-6
    so_ = torch.where(safe, so, torch.ones_like(so))
    direction = torch.where(
        safe,
        (torch.sin((1.0 - t) * omega) / so_) * ua + (torch.sin(t * omega) / so_) * ub,
        lerp(ua, ub, t),
    )
    out = direction * lerp(na, nb, t)
    # Exact endpoints, so the first and last frames are the seed images bit for bit.
    out = torch.where(t == 0, a, out)
    return torch.where(t == 1, b, out)


def keyframe_path(keys: Tensor, frames: int, mode: str = "slerp") -> Tensor:
    """``frames`` latents ``[frames, D]`` running through the rows of ``keys`` at a constant pace.

    Frame 0 is ``keys[0]`` and the last frame ``keys[-1]``, exactly; a key lands exactly on a frame
    whenever ``(frames - 1)`` is a multiple of ``len(keys) - 1``.
    """
    if mode not in ("slerp", "lerp"):
        raise UserError(f"keyframe mode must be slerp or lerp, got {mode!r}")
    if len(keys) < 2:
        raise UserError("interpolation needs at least two seeds")
    if frames < 2:
        raise UserError(f"interpolation needs at least 2 frames, got {frames}")
    segments = len(keys) - 1
    pos = torch.linspace(0, segments, frames, dtype=torch.float64)
    seg = pos.floor().long().clamp(max=segments - 1)
    t = (pos - seg).to(keys.dtype)[:, None]
    fn = slerp if mode == "slerp" else lerp
    return fn(keys[seg], keys[seg + 1], t)


def random_walk(frames: int, z_dim: int, *, seed: int, sigma_frames: float) -> Tensor:
    """The paper's video latents: normal noise ``[frames, z_dim]`` smoothed along time with a
    wrapping Gaussian of ``sigma_frames``, each frame rescaled to norm ``sqrt(z_dim)``."""
    if frames < 1:
        raise UserError(f"frames must be >= 1, got {frames}")
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(frames, z_dim, generator=gen, dtype=torch.float64).numpy()
    if sigma_frames > 0:
        noise = gaussian_filter1d(noise, sigma=float(sigma_frames), axis=0, mode="wrap")
    z = torch.from_numpy(noise)
    z = z * (z_dim ** 0.5 / z.norm(dim=1, keepdim=True).clamp_min(1e-12))
    return z.float()


def check_interpolation(
    seeds: Sequence[int], frames: int, *, mode: str, cells: int, truncation: float | None
) -> None:
    """One-line errors for option combinations that cannot make a video."""
    if mode not in MODES:
        raise UserError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if frames < 2:
        raise UserError(f"a video needs at least 2 frames, got {frames}")
    if mode == "walk":
        if truncation is not None:
            raise UserError("--truncation does not apply to --mode walk (its latents are smoothed noise)")
        if len(seeds) not in (1, cells):
            raise UserError(f"--mode walk takes one seed, or one per grid cell ({cells}); got {len(seeds)}")
    elif len(seeds) % cells or len(seeds) // cells < 2:
        raise UserError(f"{mode} with {cells} grid cell(s) needs a multiple of {cells} seeds, "
                        f"at least 2 per cell; got {len(seeds)}")


def interpolation_latents(
    seeds: Sequence[int],
    frames: int,
    z_dim: int,
    *,
    mode: str = "slerp",
    cells: int = 1,
    truncation: float | None = None,
    sigma_frames: float = 30.0,
) -> Tensor:
    """Latents ``[frames, cells, z_dim]`` for a video of ``cells`` independent paths.

    slerp / lerp: ``seeds`` is split into ``cells`` equal consecutive groups (>= 2 seeds each), one path
    per group. walk: one seed per cell (or one seed, ``seed + i`` for cell ``i``).
    """
    check_interpolation(seeds, frames, mode=mode, cells=cells, truncation=truncation)
    if mode == "walk":
        walk_seeds = list(seeds) if len(seeds) == cells else [seeds[0] + i for i in range(cells)]
        walks = [random_walk(frames, z_dim, seed=s, sigma_frames=sigma_frames) for s in walk_seeds]
        return torch.stack(walks, 1)
    keys = latents_for_seeds(seeds, z_dim, truncation=truncation).view(cells, len(seeds) // cells, z_dim)
    return torch.stack([keyframe_path(k, frames, mode) for k in keys], 1)


def interpolate(
    network: str | os.PathLike[str] | torch.nn.Module,
    out: str | os.PathLike[str],
    *,
    seeds: Sequence[int] = (0, 1, 2, 3),
    frames: int = 120,
    fps: float = 30.0,
    mode: str = "slerp",
    grid: tuple[int, int] | None = None,
    class_: int | None = None,
    truncation: float | None = None,
    smoothing_sec: float = 1.0,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> Path:
    """Render an interpolation video (.mp4 or .gif) of ``frames`` frames; returns its path.

    ``grid=(cols, rows)`` shows ``cols * rows`` independent paths per frame. ``smoothing_sec`` is the
    walk's Gaussian sigma in seconds of video (TF release default 1.0).
    """
    path = check_video_path(out)
    cols, rows = grid or (1, 1)
    check_interpolation(seeds, frames, mode=mode, cells=cols * rows, truncation=truncation)
    G = load_network(network, device)
    z = interpolation_latents(seeds, frames, cast(int, G.z_dim), mode=mode, cells=cols * rows,
                              truncation=truncation, sigma_frames=smoothing_sec * fps)
    labels = label_tensor(G, None if class_ is None else [class_], cols * rows)
    with VideoWriter(path, fps) as writer, tqdm(total=frames, unit="frame", desc="interpolate",
                                                disable=not progress) as bar:
        for frame in render_frames(G, z, labels, cols=cols, batch_size=batch_size):
            writer.append(frame)
            bar.update(1)
    return path


def render_frames(
    G: torch.nn.Module, z: Tensor, labels: Tensor | None = None, *, cols: int = 1, batch_size: int = 32
) -> Iterator[np.ndarray]:
    """uint8 frames (HxW or HxWxC grids of ``cols`` columns) of latents ``z`` = ``[frames, cells, D]``;
    ``labels`` holds one class per cell."""
    cells = z.shape[1]
    per_call = max(1, batch_size // cells)
    for start in range(0, len(z), per_call):
        zb = z[start:start + per_call]
        lb = None if labels is None else labels.repeat(len(zb))
        imgs = to_uint8(synthesize(G, zb.reshape(-1, zb.shape[-1]), lb, batch_size=batch_size))
        for frame in imgs.view(len(zb), cells, *imgs.shape[1:]):
            yield make_grid(frame, cols=cols)
