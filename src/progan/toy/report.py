"""What ``progan toy`` tells the user: a short text report or one JSON object."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from progan.toy.stats import COLLAPSE_FRACTION, QUANTILES, Comparison, Summary
from progan.toy.train import ToyResult

__all__ = ["collapse_message", "report_dict", "report_text"]


def collapse_message(result: ToyResult) -> str | None:
    """One line explaining mode collapse, or None when G's spread is healthy."""
    if not result.mode_collapsed:
        return None
    g, d = result.generated_summary.std, result.data_summary.std
    return (f"Mode collapse: G's samples have std {g:.3g}, under {COLLAPSE_FRACTION:.0%} "
            f"of the data's {d:.3g}; "
            "G found a few values that fool D instead of learning the spread "
            "(try another --seed, more --steps or --loss wgan-gp).")


def report_dict(result: ToyResult, comparison: Comparison | None = None,
                settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything in the report as JSON-ready values (data units)."""
    return {
        "settings": {"loss": result.loss, "steps": result.steps, "seed": result.seed,
                     **(settings or {}), "config": asdict(result.config)},
        "data": result.data_summary.to_dict(),
        "generated": result.generated_summary.to_dict(),
        "ks": result.ks.to_dict(),
        "compare": comparison.to_dict() if comparison is not None else None,
        "mode_collapse": {"collapsed": result.mode_collapsed, "message": collapse_message(result)},
        "seconds": round(result.seconds, 3),
    }


def _row(name: str, s: Summary) -> str:
    cells = [s.mean, s.std, *s.quantiles.values()]
    return f"{name:<10}" + "".join(f"{c:>10.4g}" for c in cells)


def report_text(result: ToyResult, comparison: Comparison | None = None) -> str:
    """A few lines for a person: the two distributions side by side, KS, comparisons, collapse."""
    header = f"{'':<10}{'mean':>10}{'std':>10}" + "".join(f"{f'p{q}':>10}" for q in QUANTILES)
    lines = [
        (f"Trained G and D on {result.data_summary.count} numbers: {result.loss} loss, {result.steps} steps, "
         f"seed {result.seed}, {result.seconds:.1f} s."),
        header,
        _row("data", result.data_summary),
        _row("generated", result.generated_summary) + f"   ({result.generated_summary.count} samples)",
        (f"Kolmogorov-Smirnov statistic {result.ks.statistic:.3f} (p = {result.ks.pvalue:.3g}): the largest "
         "gap between the data's and G's cumulative distributions; 0 means identical."),
    ]
    if comparison is not None:
        d_name = "D(x)" if result.probability else "critic"
        lines.append(f"{'x':>10}{'density':>12}{d_name:>10}   (density of G's samples, Gaussian KDE)")
        lines += [f"{v.value:>10.4g}{v.density:>12.4g}{v.discriminator:>10.3g}" for v in comparison.values]
        lines += comparison.answers
        if result.probability:
            lines.append("D(x) is D's probability that x is real; near 0.5 means D can no longer tell G's "
                         "samples from the data there, so G's density is the better guide to likelihood.")
        else:
            lines.append("The critic's score only ranks how real x looks next to G's samples; its level is "
                         "arbitrary, so G's density is the guide to likelihood.")
    message = collapse_message(result)
    if message:
        lines.append(message)
    return "\n".join(lines)
