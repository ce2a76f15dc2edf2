"""``progan classifier train``: a small CNN whose features and predictions serve as offline metrics."""

from __future__ import annotations

from pathlib import Path

import click

from progan.errors import UserError


@click.group("classifier")
def command() -> None:
    """Offline feature extractor for FID/KID/precision-recall and class accuracy (metric cas)."""


@command.command("train", context_settings={"show_default": True})
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Prepared, labelled data set (progan prepare ... --labels).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output file. Default: classifier-<data set folder name>.safetensors.")
@click.option("--epochs", type=click.IntRange(min=1), default=3, help="Passes over the training share.")
@click.option("--batch-size", type=click.IntRange(min=1), default=128, help="Minibatch size.")
@click.option("--seed", type=click.IntRange(min=0), default=0, help="Seed of the split, init and order.")
@click.option("--device", default="auto", metavar="auto|cpu|cuda[:N]", help="Device.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train(data: Path, out: Path | None, epochs: int, batch_size: int, seed: int, device: str,
          quiet: bool) -> None:
    """Train on DATA (90% / 10% held out) and save weights + metadata as safetensors."""
    from progan.cli.metrics import _device
    from progan.metrics.classifier import train_classifier_on_dataset

    dev = _device(device)
    out = out or Path(f"classifier-{data.resolve().name}.safetensors")
    if out.exists() and out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file name")
    result = train_classifier_on_dataset(data, out, epochs=epochs, batch_size=batch_size, seed=seed,
                                         device=dev, progress=not quiet)
    click.echo(f"saved {result.path}: held-out accuracy {result.test_accuracy:.4f} on {result.test_images} "
               f"images ({result.train_images} trained, {result.epochs} epochs, {result.seconds:.0f} s); "
               f"use it with progan metrics --features {result.path}")
