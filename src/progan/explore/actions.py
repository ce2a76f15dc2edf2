"""The work behind each page of the explorer, as plain functions on a loaded generator.

Each one calls the library function of the matching command and writes its files into a fresh folder, so a
page shows exactly what the command writes: :func:`progan.sampling.generate.generate` (``progan generate``),
:func:`~progan.sampling.interpolate.interpolation_latents` +
:func:`~progan.sampling.interpolate.render_frames` and :func:`~progan.sampling.interpolate.interpolate`
(``progan interpolate``), :func:`~progan.sampling.arithmetic.arithmetic` (``progan arithmetic``) and
:func:`~progan.sampling.project.project_image` (``progan project``). Nothing here draws an image itself.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from progan.errors import UserError

if TYPE_CHECKING:  # torch is imported when the first image is made, not when the page is built
    import torch

__all__ = [
    "MAX_FRAMES",
    "MAX_GRID",
    "MAX_GROUP",
    "ProjectionFiles",
    "Workdir",
    "arithmetic_sheet",
    "export_video",
    "generate_image",
    "interpolation_frames",
    "project_upload",
]

MAX_GRID = 256      # images on one generated page
MAX_FRAMES = 600    # frames of one interpolation
MAX_GROUP = 64      # seeds in one arithmetic group


class Workdir:
    """A private folder for the files one server writes; every request gets a subfolder of its own.

    Subfolders older than ``keep_s`` are deleted as new ones are made, so a long-running server does not
    fill the disk; the whole folder goes when the server stops.
    """

    def __init__(self, parent: str | Path | None = None, keep_s: float = 3600.0) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="progan-explore-", dir=parent))
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._pruned = time.time()

    def new(self, kind: str) -> Path:
        with self._lock:
            if time.time() - self._pruned > min(60.0, self.keep_s):  # not on every request: a folder listing
                self._prune()
            return Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.path))

    def _prune(self) -> None:
        self._pruned = time.time()
        limit = self._pruned - self.keep_s
        for sub in self.path.iterdir():
            try:
                if sub.is_dir() and sub.stat().st_mtime < limit:
                    shutil.rmtree(sub, ignore_errors=True)
            except OSError:
                continue

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _classes(class_: int | None) -> list[int] | None:
    return None if class_ is None else [int(class_)]


def generate_image(G: torch.nn.Module, seeds: Sequence[int], outdir: Path, *, class_: int | None = None,
                   truncation: float | None = None) -> Path:
    """One seed: ``progan generate``'s ``seed%04d.png``, byte for byte. Several: one near-square grid page."""
    from progan.images import grid_shape
    from progan.sampling.generate import generate

    if not seeds:
        raise UserError("no seeds given")
    if len(seeds) > MAX_GRID:
        raise UserError(f"{len(seeds)} seeds: a page shows at most {MAX_GRID}")
    grid = None if len(seeds) == 1 else grid_shape(len(seeds))
    paths = generate(G, list(seeds), outdir, truncation=truncation, classes=_classes(class_), grid=grid,
                     progress=False)
    return paths[0]


def interpolation_frames(G: torch.nn.Module, seeds: tuple[int, int], frames: int, outdir: Path, *,
                         mode: str = "slerp", class_: int | None = None,
                         truncation: float | None = None) -> list[Path]:
    """The frames of ``progan interpolate --seeds A,B --frames N`` as PNGs; the first and last frames are
    the two seeds' images."""
    from progan.images import save_image
    from progan.sampling._io import label_tensor
    from progan.sampling.interpolate import interpolation_latents, render_frames

    if frames > MAX_FRAMES:
        raise UserError(f"{frames} frames: the page renders at most {MAX_FRAMES}")
    z = interpolation_latents(list(seeds), frames, cast(int, G.z_dim), mode=mode, truncation=truncation)
    labels = label_tensor(G, _classes(class_), 1)
    frames_u8 = render_frames(G, z, labels)
    return [save_image(frame, outdir / f"frame{i:04d}.png") for i, frame in enumerate(frames_u8)]


def export_video(G: torch.nn.Module, seeds: tuple[int, int], frames: int, out: Path, *, fps: float = 30.0,
                 mode: str = "slerp", class_: int | None = None, truncation: float | None = None) -> Path:
    """``progan interpolate`` to ``out`` (.mp4 or .gif)."""
    from progan.sampling.interpolate import interpolate

    if frames > MAX_FRAMES:
        raise UserError(f"{frames} frames: the page renders at most {MAX_FRAMES}")
    return interpolate(G, out, seeds=list(seeds), frames=frames, fps=fps, mode=mode, class_=class_,
                       truncation=truncation, progress=True)


def arithmetic_sheet(G: torch.nn.Module, outdir: Path, *, base: Sequence[int], plus: Sequence[int],
                     minus: Sequence[int] = (), class_: int | None = None,
                     truncation: float | None = None) -> tuple[Path, Path]:
    """``progan arithmetic``'s sheet (each group's images and the image of its mean latent, then the result)
    and the result image alone; returns both paths."""
    from progan.images import make_grid, save_image
    from progan.sampling.arithmetic import arithmetic

    for name, group in (("base", base), ("plus", plus), ("minus", minus)):
        if len(group) > MAX_GROUP:
            raise UserError(f"{len(group)} {name} seeds: at most {MAX_GROUP} per group")
    result = arithmetic(G, outdir / "arithmetic.png", base=base, plus=plus, minus=minus, class_=class_,
                        truncation=truncation)
    return result.path, save_image(make_grid(result.image[None]), outdir / "result.png")


@dataclass
class ProjectionFiles:
    """What ``progan project`` writes, plus the numbers shown on the page."""

    outdir: Path
    target: Path
    projected: Path
    blended: Path | None
    latent: Path
    video: Path
    psnr: float
    loss: float
    seconds: float


def project_upload(G: torch.nn.Module, target: np.ndarray, outdir: Path, *, mask: np.ndarray | None = None,
                   class_: int | None = None, config: object | None = None) -> ProjectionFiles:
    """``progan project`` on an already decoded uint8 ``[C, R, R]`` target (and bool ``[R, R]`` mask) at G's
    resolution; the inputs are written as PNGs first, which the projector reads back unchanged."""
    from progan.images import make_grid, save_image
    from progan.sampling.project import ProjectConfig, project_image

    cfg = config if isinstance(config, ProjectConfig) else ProjectConfig()
    inputs = outdir / "inputs"
    inputs.mkdir()
    target_png = save_image(make_grid(target[None]), inputs / "target.png")
    mask_png = None if mask is None else save_image(np.where(mask, 255, 0).astype(np.uint8),
                                                    inputs / "mask.png")
    result = project_image(G, target_png, outdir, mask_path=mask_png, class_=class_, config=cfg,
                           progress=True)
    return ProjectionFiles(
        outdir=outdir, target=outdir / "target.png", projected=outdir / "projected.png",
        blended=outdir / "blended.png" if mask is not None else None, latent=outdir / "latent.npy",
        video=outdir / "progress.mp4", psnr=result.psnr, loss=result.loss, seconds=result.seconds,
    )
