"""``progan interpolate``: latent interpolation videos (see :mod:`progan.sampling.interpolate`)."""

from __future__ import annotations

from pathlib import Path

import click

from progan.sampling._cli import (
    apply_threads,
    batch_option,
    device_option,
    fps_option,
    grid_option,
    network_option,
    seeds_option,
    threads_option,
    truncation_option,
)


@click.command("interpolate")
@network_option
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output video, .mp4 or .gif.")
@seeds_option(default=None, help="slerp/lerp: the seeds to pass through (split evenly between grid cells; "
                                 "default 0-3 per cell). walk: one seed, or one per cell (default 0).")
@click.option("--frames", type=click.IntRange(min=2), default=120, show_default=True,
              help="Frames in the video.")
@fps_option(30.0)
@click.option("--mode", type=click.Choice(["slerp", "lerp", "walk"]), default="slerp", show_default=True,
              help="slerp/lerp between consecutive seeds, or the paper's Gaussian-smoothed random walk.")
@click.option("--smoothing", "smoothing_sec", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="walk: Gaussian sigma in seconds of video.")
@grid_option("Show COLSxROWS independent paths per frame.")
@click.option("--class", "class_", type=click.IntRange(min=0), default=None,
              help="Class (conditional networks).")
@truncation_option
@batch_option
@device_option
@threads_option
def command(network: Path, out: Path, seeds: list[int] | None, frames: int, fps: float, mode: str,
            smoothing_sec: float, grid: tuple[int, int] | None, class_: int | None, truncation: float | None,
            batch_size: int, device: str, threads: int | None) -> None:
    """Render a video that walks through latent space."""
    apply_threads(threads)
    from progan.device import resolve_device
    from progan.sampling.interpolate import check_interpolation, interpolate
    from progan.sampling.video import check_video_path

    cells = grid[0] * grid[1] if grid else 1
    if seeds is None:
        seeds = [0] if mode == "walk" else list(range(4 * cells))
    check_video_path(out)
    check_interpolation(seeds, frames, mode=mode, cells=cells, truncation=truncation)
    path = interpolate(network, out, seeds=seeds, frames=frames, fps=fps, mode=mode, grid=grid, class_=class_,
                       truncation=truncation, smoothing_sec=smoothing_sec, batch_size=batch_size,
                       device=resolve_device(device))
    click.echo(f"wrote {path} ({frames} frames)")
