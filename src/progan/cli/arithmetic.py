"""``progan arithmetic``: latent vector arithmetic sheet (see :mod:`progan.sampling.arithmetic`)."""

from __future__ import annotations

from pathlib import Path

import click

from progan.sampling._cli import (
    apply_threads,
    device_option,
    network_option,
    seeds_option,
    threads_option,
    truncation_option,
)


@click.command("arithmetic")
@network_option
@seeds_option(name="--base", help="Seeds whose mean latent is the starting point, e.g. 0-3.")
@seeds_option(name="--plus", help="Seeds whose mean latent is added.")
@click.option("--minus", default=None, metavar="SEEDS", help="Seeds whose mean latent is subtracted.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output sheet (.png).")
@click.option("--class", "class_", type=click.IntRange(min=0), default=None,
              help="Class (conditional networks).")
@truncation_option
@device_option
@threads_option
def command(network: Path, base: list[int], plus: list[int], minus: str | None, out: Path, class_: int | None,
            truncation: float | None, device: str, threads: int | None) -> None:
    """Latent arithmetic: mean(base) + mean(plus) - mean(minus), as a labelled sheet."""
    apply_threads(threads)
    from progan.device import resolve_device
    from progan.sampling._io import check_output_file
    from progan.sampling.arithmetic import arithmetic
    from progan.sampling.latents import parse_seeds

    minus_seeds = parse_seeds(minus) if minus is not None else []
    check_output_file(out, (".png", ".jpg", ".jpeg", ".webp"))
    result = arithmetic(network, out, base=base, plus=plus, minus=minus_seeds, class_=class_,
                        truncation=truncation, device=resolve_device(device))
    click.echo(f"wrote {result.path}")
