"""``progan generate``: images from seeds, one PNG each or grids (see :mod:`progan.sampling.generate`)."""

from __future__ import annotations

from pathlib import Path

import click

from progan.sampling._cli import (
    apply_threads,
    batch_option,
    class_option,
    device_option,
    grid_option,
    network_option,
    seeds_option,
    threads_option,
    truncation_option,
)


@click.command("generate")
@network_option
@seeds_option()
@click.option("--outdir", required=True, type=click.Path(path_type=Path), help="Output folder (created).")
@truncation_option
@class_option("Classes to render, e.g. 3 or 0-9 (conditional networks; default: every class).")
@grid_option("Write grid pages of COLSxROWS images instead of one PNG per seed "
             "(conditional: one row per class).")
@batch_option
@device_option
@threads_option
@click.option("--npz", is_flag=True,
              help="Also save the raw float images, seeds, labels and latents (images.npz).")
def command(network: Path, seeds: list[int], outdir: Path, truncation: float | None,
            classes: list[int] | None, grid: tuple[int, int] | None, batch_size: int, device: str,
            threads: int | None, npz: bool) -> None:
    """Generate images: the same seed gives the same image on every run and batch size."""
    apply_threads(threads)
    from progan.device import resolve_device
    from progan.sampling._io import check_output_dir
    from progan.sampling.generate import generate

    check_output_dir(outdir)
    paths = generate(network, seeds, outdir, truncation=truncation, classes=classes, grid=grid,
                     batch_size=batch_size, device=resolve_device(device), npz=npz)
    click.echo(f"wrote {len(paths)} file(s) to {outdir}")
