"""progan dataset info|grid: inspect a prepared data set."""

from __future__ import annotations

import json
from pathlib import Path

import click

from progan.errors import UserError


@click.group(name="dataset")
def command() -> None:
    """Inspect a prepared data set."""


@command.command(name="info")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print dataset.json (plus the path) for machines.")
@click.option("--verify", is_flag=True, help="Also recompute the sha256 checksums of every array.")
def info(directory: Path, as_json: bool, verify: bool) -> None:
    """Print the metadata of the data set in DIRECTORY."""
    from progan.data.dataset import open_dataset
    from progan.data.summary import describe

    ds = open_dataset(directory, verify=verify)
    if as_json:
        click.echo(json.dumps({"path": str(ds.path), **ds.meta}, indent=2))
    else:
        click.echo(describe(ds) + ("\nchecksums    ok" if verify else ""))


@command.command(name="grid")
@click.argument("directory", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--resolution", type=int, default=None, help="Level to show (default: full resolution).")
@click.option("--cols", type=int, default=10, show_default=True, help="Images per row.")
@click.option("--rows", type=int, default=None, help="Rows of random images (default: one row per class when "
              "labelled, else as many as --cols).")
@click.option("--seed", type=int, default=0, show_default=True, help="Which random images.")
@click.option("--cell", type=int, default=None,
              help="Pixel size of each cell (nearest upscaling; default: at least 64).")
def grid(directory: Path, out: Path, resolution: int | None, cols: int, rows: int | None, seed: int,
         cell: int | None) -> None:
    """Save a grid of random images of DIRECTORY to OUT (png/jpg), one row per class when labelled."""
    if cols < 1 or (rows is not None and rows < 1):
        raise UserError("--cols and --rows must be >= 1")
    if seed < 0:
        raise UserError(f"--seed must be >= 0, got {seed}")
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".bmp"):
        raise UserError(f"OUT must end in .png, .jpg, .webp or .bmp, got {out.name}")
    if not out.parent.is_dir() and str(out.parent) != "":
        raise UserError(f"folder {out.parent} does not exist")
    from progan.data.dataset import open_dataset
    from progan.data.summary import grid_images
    from progan.images import make_grid, save_image

    ds = open_dataset(directory)
    res = resolution or ds.resolution
    if res not in ds.resolutions:
        raise UserError(f"--resolution must be one of {', '.join(map(str, ds.resolutions))}, got {res}")
    size = cell or res * max(1, 64 // res)
    if size % res:
        raise UserError(f"--cell must be a multiple of the resolution {res}, got {size}")
    images = grid_images(ds, res, cols, rows, seed)
    save_image(make_grid(images, cols=cols, size=size), out)
    click.echo(f"wrote {out} ({len(images) // cols} rows x {cols} images at {res}x{res})")
