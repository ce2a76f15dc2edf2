"""Projection of an image into the latent space, and inpainting by latent optimisation.

Finds ``z`` with ``G(z) ~ target`` by Adam on ``z`` (Yeh et al. 2017, "Semantic image inpainting
with deep generative models": optimise the latent against the known pixels, then blend). The
schedule follows the StyleGAN2 projector (Karras et al. 2020): a learning rate with a short ramp-up
and a cosine ramp-down, and noise added to the latent that decays to zero over the first part of
the run, which helps escape poor basins. Several restarts run side by side as one batch; the one
with the lowest final loss wins.

The loss needs no download (no VGG/LPIPS): the mean squared pixel error plus the L1 distance between
Laplacian pyramids (Burt & Adelson 1983), the multi-scale term of Bojanowski et al. 2018 (GLO),
so coarse structure and fine detail both count. With a mask (white = known, black = to be filled)
both terms only see known pixels, and the result keeps every known pixel of the target exactly.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor
from tqdm import tqdm

from progan.errors import UserError
from progan.images import make_grid, save_image, to_uint8
from progan.sampling._draw import to_rgb
from progan.sampling._io import check_output_dir, device_of, label_tensor, load_network
from progan.sampling.video import write_video

__all__ = [
    "ProjectConfig",
    "Projection",
    "box_band_pyramid",
    "load_mask",
    "load_target",
    "project",
    "project_image",
    "projection_loss",
    "psnr",
]

_PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


@dataclass
class ProjectConfig:
    """Latent optimisation settings (defaults after the StyleGAN2 projector, scaled to fewer steps)."""

    steps: int = 300                # Adam steps
    lr: float = 0.1                 # peak learning rate
    restarts: int = 4               # independent starts, optimised together; the best is kept
    candidates: int = 64            # random latents scored before optimising; restarts start from the best
    seed: int = 0                   # seed of the starting latents and the latent noise
    initial_noise: float = 0.05     # std of the noise added to z at step 0 (z itself has std 1)
    noise_ramp: float = 0.75        # fraction of the steps over which that noise decays to 0
    lr_rampup: float = 0.05         # fraction of the steps of linear lr warm-up
    lr_rampdown: float = 0.25       # fraction of the steps of cosine lr decay at the end
    lap_weight: float = 1.0         # weight of the Laplacian-pyramid L1 term
    lap_levels: int = 4             # pyramid bands (fewer when the image is small)
    frames: int = 60                # frames of the progress video

    def validate(self) -> None:
        if self.steps < 1:
            raise UserError(f"--steps must be >= 1, got {self.steps}")
        if self.restarts < 1:
            raise UserError(f"--restarts must be >= 1, got {self.restarts}")
        if self.candidates < 0:
            raise UserError(f"candidates must be >= 0, got {self.candidates}")
        if not self.lr > 0:
            raise UserError(f"--lr must be > 0, got {self.lr}")
        if self.initial_noise < 0 or self.lap_weight < 0 or self.lap_levels < 0:
            raise UserError("initial_noise, lap_weight and lap_levels must be >= 0")


@dataclass
class Projection:
    z: Tensor                 # [1, z_dim] best latent
    image: Tensor             # [1, C, R, R] G(z), float in [-1, 1]
    blended: np.ndarray       # uint8 CHW: generated pixels where unknown, target pixels where known
    target: np.ndarray        # uint8 CHW target at G's resolution
    mask: np.ndarray | None   # bool HW, True = known
    loss: float
    psnr: float               # dB over the known pixels, uint8 images
    restart: int
    seconds: float
    frames: list[np.ndarray] = field(default_factory=list, repr=False)


def _open_image(path: str | os.PathLike[str], what: str) -> Image.Image:
    try:
        with Image.open(path) as im:
            im.load()
            return ImageOps.exif_transpose(im)
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist") from None
    except (UnidentifiedImageError, OSError) as e:
        raise UserError(f"{what} {path} is not a readable image ({e.__class__.__name__})") from None


def _square(im: Image.Image, resolution: int, resample: Image.Resampling) -> Image.Image:
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    im = im.crop((left, top, left + side, top + side))
    return im if im.size == (resolution, resolution) else im.resize((resolution, resolution), resample)


def load_target(path: str | os.PathLike[str], resolution: int, channels: int) -> np.ndarray:
    """The target as uint8 ``[C, R, R]``: centre-cropped to a square, resized (Lanczos) to ``R``, converted
    to grey / RGB / RGBA as G makes."""
    if channels not in _PIL_MODES:
        raise UserError(f"projection supports generators of 1, 3 or 4 channels, this one makes {channels}")
    im = _square(_open_image(path, "target image").convert(_PIL_MODES[channels]), resolution,
                 Image.Resampling.LANCZOS)
    arr = np.asarray(im)
    return (arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)).copy()


def load_mask(path: str | os.PathLike[str], resolution: int) -> np.ndarray:
    """Bool ``[R, R]``, True where the target is known: white (>= 128 grey) = known, black = fill in."""
    im = _square(_open_image(path, "mask image").convert("L"), resolution, Image.Resampling.NEAREST)
    known = np.asarray(im) >= 128
    if not known.any():
        raise UserError(f"mask {path} has no known (white) pixels: white = keep, black = fill in")
    return known


def box_band_pyramid(x: Tensor, levels: int) -> list[Tensor]:
    """Band-pass images ``x - up(down(x))`` per octave (2x2 average down, bilinear up), then the
    low-pass rest: the projection loss's cheap pyramid (not the SWD's binomial
    :func:`progan.metrics.swd.laplacian_pyramid`)."""
    bands = []
    for _ in range(levels):
        if min(x.shape[-2:]) < 4:
            break
        low = F.avg_pool2d(x, 2)
        bands.append(x - F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=False))
        x = low
    bands.append(x)
    return bands


def projection_loss(images: Tensor, target: Tensor, mask: Tensor | None, *, lap_weight: float = 1.0,
                    lap_levels: int = 4) -> Tensor:
    """Per-sample loss ``[N]``: mean squared error over known pixels + ``lap_weight`` x the mean L1
    distance of the Laplacian pyramids of the masked images (the mask zeroes unknown pixels in both).
    Generated values beyond [-1, 1] count as the bound where the target is at that bound, since the
    uint8 image clips them there anyway."""
    if mask is None:
        mask = torch.ones_like(target[:, :1])
    # Saving clips to [-1, 1]: where the target sits at a bound, anything beyond it is as good as the bound.
    beyond = ((target <= -1.0) & (images < -1.0)) | ((target >= 1.0) & (images > 1.0))
    images = torch.where(beyond, target, images)
    known = mask.sum().clamp_min(1.0) * images.shape[1]
    l2 = ((images - target) ** 2 * mask).sum(dim=(1, 2, 3)) / known
    if lap_weight == 0:
        return l2
    lap = images.new_zeros(len(images))
    pairs = zip(box_band_pyramid(images * mask, lap_levels), box_band_pyramid(target * mask, lap_levels))
    for a, b in pairs:
        lap = lap + (a - b).abs().mean(dim=(1, 2, 3))
    return l2 + lap_weight * lap


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB of two uint8 ``[C, H, W]`` images (over the pixels where ``mask`` [H, W] is True)."""
    diff = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    if mask is not None:
        diff = diff[:, mask]
    mse = float(diff.mean())
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def _lr_at(t: float, cfg: ProjectConfig) -> float:
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown) if cfg.lr_rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    if cfg.lr_rampup > 0:
        ramp *= min(1.0, t / cfg.lr_rampup)
    return cfg.lr * max(ramp, 1e-3)


def _blend(generated: np.ndarray, target: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return generated.copy() if mask is None else np.where(mask[None], target, generated)


def _frame(shown: np.ndarray, generated: np.ndarray, target: np.ndarray, mask: np.ndarray | None,
           scale: int) -> np.ndarray:
    """One progress-video frame: target (unknown pixels grey), G(z), and the blend when masked."""
    tiles = [shown, generated] + ([_blend(generated, target, mask)] if mask is not None else [])
    return to_rgb(make_grid(np.stack(tiles), cols=len(tiles), size=shown.shape[1] * scale))


@torch.no_grad()
def _starting_latents(G: torch.nn.Module, target: Tensor, mask: Tensor | None, labels: Tensor | None,
                      cfg: ProjectConfig, gen: torch.Generator) -> Tensor:
    """``restarts`` latents: the lowest-loss ones among ``max(candidates, restarts)`` random draws."""
    K, device = cfg.restarts, target.device
    z = torch.randn(max(cfg.candidates, K), cast(int, G.z_dim), generator=gen).to(device)
    if len(z) == K:
        return z
    losses = []
    for chunk in z.split(64):
        lb = None if labels is None else labels[:1].expand(len(chunk))
        losses.append(projection_loss(G(chunk, lb), target.expand(len(chunk), -1, -1, -1), mask,
                                      lap_weight=cfg.lap_weight, lap_levels=cfg.lap_levels))
    return z[torch.cat(losses).argsort()[:K]].clone()


def project(
    G: torch.nn.Module,
    target: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    class_: int | None = None,
    config: ProjectConfig | None = None,
    progress: bool = False,
) -> Projection:
    """Project a uint8 ``[C, R, R]`` target (``R = G.output_resolution``) into ``G``'s latent space.

    With ``mask`` (bool ``[R, R]``, True = known) the loss only sees known pixels and ``blended``
    holds the target there, bit for bit, and G's pixels elsewhere (inpainting).
    """
    cfg = config or ProjectConfig()
    cfg.validate()
    res, ch = cast(int, G.output_resolution), cast(int, G.channels)
    if target.shape != (ch, res, res) or target.dtype != np.uint8:
        raise ValueError(f"target must be uint8 {[ch, res, res]}, got {target.dtype} {list(target.shape)}")
    device = device_of(G)
    K = cfg.restarts
    labels = label_tensor(G, None if class_ is None else [class_], K)
    labels = None if labels is None else labels.to(device)
    t_img = torch.from_numpy(target).to(device, torch.float32)[None] / 127.5 - 1.0
    m = None if mask is None else torch.from_numpy(mask).to(device, torch.float32)[None, None]
    gen = torch.Generator().manual_seed(int(cfg.seed))
    z = _starting_latents(G, t_img, m, labels, cfg, gen).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=cfg.lr, betas=(0.9, 0.999))
    shown = target.copy()
    if mask is not None:
        shown[:, ~mask] = 128
    scale = max(1, -(-128 // res))
    n_frames = max(2, min(cfg.frames, cfg.steps))
    record = set(np.linspace(0, cfg.steps - 1, n_frames).round().astype(int).tolist())
    frames: list[np.ndarray] = []
    start = time.perf_counter()
    losses = torch.zeros(K)
    for step in tqdm(range(cfg.steps), unit="step", desc="project", disable=not progress):
        t = step / cfg.steps
        for g in opt.param_groups:
            g["lr"] = _lr_at(t, cfg)
        strength = cfg.initial_noise * max(0.0, 1.0 - t / cfg.noise_ramp) ** 2 if cfg.noise_ramp > 0 else 0.0
        z_in = z + torch.randn(z.shape, generator=gen).to(device) * strength if strength > 0 else z
        images = G(z_in, labels)
        per_sample = projection_loss(images, t_img, m, lap_weight=cfg.lap_weight, lap_levels=cfg.lap_levels)
        opt.zero_grad(set_to_none=True)
        per_sample.sum().backward()
        opt.step()
        losses = per_sample.detach().cpu()
        if step in record:
            current = to_uint8(images[int(losses.argmin())]).cpu().numpy()
            frames.append(_frame(shown, current, target, mask, scale))
    with torch.no_grad():
        images = G(z.detach(), labels)
        final = projection_loss(images, t_img, m, lap_weight=cfg.lap_weight, lap_levels=cfg.lap_levels).cpu()
    best = int(final.argmin())
    image = images[best:best + 1].float().cpu()
    gen_u8 = to_uint8(image)[0].numpy()
    blended = _blend(gen_u8, target, mask)
    frames.append(_frame(shown, gen_u8, target, mask, scale))
    return Projection(
        z=z.detach()[best:best + 1].cpu(), image=image, blended=blended, target=target, mask=mask,
        loss=float(final[best]), psnr=psnr(gen_u8, target, mask), restart=best,
        seconds=time.perf_counter() - start, frames=frames,
    )


def _chw_to_image(arr: np.ndarray) -> np.ndarray:
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def project_image(
    network: str | os.PathLike[str] | torch.nn.Module,
    target_path: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    *,
    mask_path: str | os.PathLike[str] | None = None,
    class_: int | None = None,
    config: ProjectConfig | None = None,
    device: str | torch.device = "cpu",
    fps: float = 20.0,
    progress: bool = True,
) -> Projection:
    """Project the image file ``target_path`` and write to ``outdir``: ``target.png`` (as G sees it),
    ``projected.png`` (G(z)), ``blended.png`` (with a mask), ``latent.npy`` ([1, z_dim] float32),
    ``progress.mp4`` and ``projection.json`` (loss, PSNR, settings)."""
    cfg = config or ProjectConfig()
    cfg.validate()
    out = check_output_dir(outdir)
    G = load_network(network, device)
    res = cast(int, G.output_resolution)
    target = load_target(target_path, res, cast(int, G.channels))
    mask = load_mask(mask_path, res) if mask_path is not None else None
    result = project(G, target, mask, class_=class_, config=cfg, progress=progress)
    save_image(_chw_to_image(target), out / "target.png")
    save_image(_chw_to_image(to_uint8(result.image)[0].numpy()), out / "projected.png")
    if mask is not None:
        save_image(_chw_to_image(result.blended), out / "blended.png")
    tmp = out / f".latent.tmp-{os.getpid()}.npy"
    np.save(tmp, result.z.numpy().astype(np.float32))
    os.replace(tmp, out / "latent.npy")
    write_video(result.frames, out / "progress.mp4", fps=fps)
    info = {"loss": result.loss, "psnr_db": result.psnr, "restart": result.restart, "seconds": result.seconds,
            "class": class_, "mask": str(mask_path) if mask_path else None, "target": str(target_path),
            "config": asdict(cfg)}
    (out / "projection.json").write_text(json.dumps(info, indent=2) + "\n")
    return result
