"""``progan toy``: a 1-D GAN that learns a distribution of numbers, for teaching."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from progan.errors import UserError

# Literal here so that --help and input errors answer without importing torch; a test keeps them equal
# to progan.toy's.
LOSS_NAMES = ("minimax", "non-saturating", "wgan-gp")
DEFAULT_STEPS = {"minimax": 2000, "non-saturating": 2000, "wgan-gp": 1000}
DEFAULT_MEAN, DEFAULT_STD, DEFAULT_COUNT = 16.0, 5.0, 50


def _check_output(path: Path, option: str, suffixes: tuple[str, ...]) -> None:
    if path.suffix.lower() not in suffixes:
        raise UserError(f"{option} {path}: use a file name ending in {' or '.join(suffixes)}")
    if not path.parent.is_dir():
        raise UserError(f"{option} {path}: directory {path.parent} does not exist")


# Unknown "options" reach MORE_VALUES so that negative numbers can follow --compare (-3 looks like an
# option to click); anything there that is not a number is reported as an unknown option.
def _number(token: str) -> float:
    try:
        return float(token)
    except ValueError:
        kind = "option" if token.startswith("-") else "argument"
        raise UserError(f"no such {kind} {token!r}") from None


@click.command(context_settings={"help_option_names": ["-h", "--help"], "ignore_unknown_options": True})
@click.option("--numbers", type=click.Path(dir_okay=True, path_type=Path), default=None,
              help="Text file of numbers, one per line or separated by commas/spaces.")
@click.option("--mean", type=float, default=None,
              help=f"Mean of the drawn numbers [default: {DEFAULT_MEAN:g}].")
@click.option("--std", type=float, default=None, help=f"Std of the drawn numbers [default: {DEFAULT_STD:g}].")
@click.option("--count", type=int, default=None, help=f"How many numbers to draw [default: {DEFAULT_COUNT}].")
@click.option("--loss", type=click.Choice(LOSS_NAMES), default="non-saturating", show_default=True,
              help="minimax: J(G) = -J(D); non-saturating: G maximises log D(G(z)); "
                   "wgan-gp: critic + penalty.")
@click.option("--steps", type=int, default=None,
              help="Training steps (G updates) [default: 2000; 1000 for wgan-gp].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for the drawn numbers and training.")
@click.option("--compare", "compare", type=float, multiple=True, metavar="X",
              help="Values to compare: --compare 15 24 -3.")
@click.argument("more_values", nargs=-1, type=click.UNPROCESSED, metavar="[Y ...]")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save data vs generated histograms and D's curve (.png, .pdf or .svg).")
@click.option("--animate", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save a GIF of training.")
@click.option("--frames", type=int, default=40, show_default=True, help="Frames in the --animate GIF.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the text report.")
def command(numbers: Path | None, mean: float | None, std: float | None, count: int | None, loss: str,
            steps: int | None, seed: int, compare: tuple[float, ...], more_values: tuple[str, ...],
            plot: Path | None, animate: Path | None, frames: int, as_json: bool) -> None:
    """Train a tiny GAN on a list of numbers: G learns to sample them, D learns to tell.

    Reports the learned distribution next to the data's, a Kolmogorov-Smirnov statistic, and for
    --compare values which is more likely. Default data: 50 numbers drawn from N(16, 5) with --seed.
    """
    # Validate everything before any work.
    values = [*compare, *(_number(token) for token in more_values)]
    if more_values and not compare:
        raise UserError(f"unexpected argument {more_values[0]}; values to compare follow --compare")
    for v in values:
        if not math.isfinite(v):
            raise UserError(f"--compare values must be finite numbers, got {v}")
    if numbers is not None and (mean, std, count) != (None, None, None):
        raise UserError("give either --numbers FILE or --mean/--std/--count, not both")
    mean = DEFAULT_MEAN if mean is None else mean
    std = DEFAULT_STD if std is None else std
    count = DEFAULT_COUNT if count is None else count
    if not math.isfinite(mean):
        raise UserError(f"--mean must be a finite number, got {mean}")
    if not (std > 0 and math.isfinite(std)):
        raise UserError(f"--std must be a finite number > 0, got {std}")
    if count < 2:
        raise UserError(f"--count must be >= 2, got {count}")
    steps = DEFAULT_STEPS[loss] if steps is None else steps
    if steps < 1:
        raise UserError(f"--steps must be >= 1, got {steps}")
    if frames < 2:
        raise UserError(f"--frames must be >= 2, got {frames}")
    if plot is not None:
        _check_output(plot, "--plot", (".png", ".pdf", ".svg"))
    if animate is not None:
        _check_output(animate, "--animate", (".gif",))

    from progan.toy.data import draw_numbers, read_numbers

    if numbers is not None:
        data = read_numbers(numbers)
        source: dict[str, Any] = {"kind": "file", "path": str(numbers)}
    else:
        data = draw_numbers(mean, std, count, seed)
        source = {"kind": "normal", "mean": mean, "std": std, "count": count}

    from progan.toy.report import report_dict, report_text
    from progan.toy.train import train_toy

    frame_every = max(1, steps // (frames - 1)) if animate is not None else 0
    result = train_toy(data, loss=loss, steps=steps, seed=seed, frame_every=frame_every)
    comparison = result.compare(values) if values else None
    outputs: dict[str, str] = {}
    if plot is not None:
        from progan.toy.plots import plot_result

        outputs["plot"] = str(plot_result(result, plot))
    if animate is not None:
        from progan.toy.plots import animate_result

        outputs["animation"] = str(animate_result(result, animate))

    if as_json:
        click.echo(json.dumps(report_dict(result, comparison, {"data_source": source, "outputs": outputs})))
        return
    click.echo(report_text(result, comparison))
    for kind, path in outputs.items():
        click.echo(f"Wrote {kind}: {path}")
