"""Click options and converters shared by the sampling commands (generate, interpolate, ...)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _seeds(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    # progan.sampling.latents imports torch: not while click builds the command, only when the option is used
    from progan.sampling.latents import parse_seeds

    return None if value is None else parse_seeds(value)


def _grid(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    # progan.sampling.latents imports torch: not while click builds the command, only when the option is used
    from progan.sampling.latents import parse_grid

    return None if value is None else parse_grid(value)


def _classes(ctx: click.Context, param: click.Parameter, value: str | None) -> list[int] | None:
    # progan.sampling.latents imports torch: not while click builds the command, only when the option is used
    from progan.sampling.latents import parse_class_list

    return None if value is None else parse_class_list(value)


def network_option(f: F) -> F:
    return click.option(
        "--network", required=True, type=click.Path(path_type=Path), metavar="CKPT",
        help="A network-snapshot-*.safetensors file, a run folder (its newest snapshot), or a .pkl of "
             "the authors' releases (converted in memory, see progan import).",
    )(f)


def device_option(f: F) -> F:
    return click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]",
                        help="Device to run the generator on.")(f)


def truncation_option(f: F) -> F:
    return click.option(
        "--truncation", type=click.FloatRange(min=0, min_open=True), default=None, metavar="T",
        help="Truncation trick: latent entries with |z| > T are redrawn (BigGAN).",
    )(f)


def seeds_option(default: str | None = None, help: str = "Seeds, e.g. 0-99,120,200-202.",
                 name: str = "--seeds") -> Callable[[F], F]:
    return click.option(name, callback=_seeds, default=default, required=default is None, metavar="SEEDS",
                        show_default=default is not None, help=help)


def grid_option(help: str) -> Callable[[F], F]:
    return click.option("--grid", callback=_grid, default=None, metavar="COLSxROWS", help=help)


def class_option(help: str = "Class index (conditional networks only).") -> Callable[[F], F]:
    return click.option("--class", "classes", callback=_classes, default=None, metavar="C", help=help)


def batch_option(f: F) -> F:
    return click.option("--batch", "batch_size", type=click.IntRange(min=1), default=32, show_default=True,
                        help="Images per generator call.")(f)


def fps_option(default: float) -> Callable[[F], F]:
    return click.option(
        "--fps", type=click.FloatRange(min=0, min_open=True), default=default, show_default=True,
        help="Frames per second of the video.",
    )


def threads_option(f: F) -> F:
    return click.option(
        "--threads", type=click.IntRange(min=1), default=None, metavar="N",
        help="CPU threads for torch (default: torch's). Small generators on a busy CPU run fastest with 1.",
    )(f)


def apply_threads(threads: int | None) -> None:
    """Set torch's intra-op threads for this (command) process."""
    if threads is not None:
        import torch  # this module is imported while click builds commands: torch only when it acts

        torch.set_num_threads(threads)
