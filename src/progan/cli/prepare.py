"""progan prepare SOURCE OUTDIR: multi-resolution training set from images, zip, MNIST, CIFAR, LSUN, CelebA"""

from __future__ import annotations

from pathlib import Path

import click

from progan.data.build import SPLITS, prepare, validate_options
from progan.data.decode import TRANSFORMS


@click.command(name="prepare")
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("outdir", type=click.Path(path_type=Path))
@click.option("--resolution", type=int, default=None,
              help="Output size, a power of two (default: what the source supports).")
@click.option("--channels", type=click.Choice(["1", "3"]), default=None,
              help="1 = grey, 3 = RGB (default: the source's).")
@click.option("--transform", type=click.Choice(TRANSFORMS), default="center-crop", show_default=True,
              help="How non-square images become square.")
@click.option("--split", type=click.Choice(SPLITS), default="train", show_default=True,
              help="MNIST/CIFAR split.")
@click.option("--max-images", type=int, default=None, help="Keep a seeded random subset of this many images.")
@click.option("--shuffle-seed", type=int, default=123, show_default=True,
              help="Seed of the stored image order.")
@click.option("--labels/--no-labels", default=True, show_default=True,
              help="Keep class labels when the source has them.")
@click.option("--strict", is_flag=True, help="Stop at the first unreadable file instead of skipping it.")
@click.option("--workers", type=int, default=None, help="Decoding processes (default: CPU count, 0 = none).")
@click.option("--force", is_flag=True, help="Replace an existing OUTDIR.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(source: Path, outdir: Path, resolution: int | None, channels: str | None, transform: str,
            split: str, max_images: int | None, shuffle_seed: int, labels: bool, strict: bool,
            workers: int | None, force: bool, quiet: bool) -> None:
    """Turn SOURCE (a folder/zip of images, MNIST idx folder, CIFAR folder/.tar.gz, LSUN LMDB or aligned
    CelebA) into a data set folder OUTDIR with one uint8 array per resolution down to 4x4."""
    ch = int(channels) if channels else None
    validate_options(resolution, ch, transform, split, max_images, shuffle_seed, workers)
    path = prepare(source, outdir, resolution=resolution, channels=ch, transform=transform, split=split,
                   max_images=max_images, shuffle_seed=shuffle_seed, labels=labels, strict=strict,
                   workers=workers, force=force, progress=not quiet)
    from progan.data.dataset import open_dataset

    ds = open_dataset(path)
    skipped = ds.meta["skipped"]["count"]
    classes = f", {ds.num_classes} classes" if ds.num_classes else ""
    size = f"{ds.resolution}x{ds.resolution}x{ds.channels}"
    click.echo(f"prepared {len(ds)} images at {size}{classes} -> {path}")
    if ds.meta.get("resolution_chosen_as"):
        click.echo(f"resolution: {ds.meta['resolution_chosen_as']}")
    if skipped:
        click.echo(f"skipped {skipped} unreadable files, listed in {path / ds.meta['skipped']['file']}")
