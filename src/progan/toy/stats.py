"""Summaries, the two-sample Kolmogorov-Smirnov statistic, and "is X more likely than Y"."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as sps

__all__ = [
    "COLLAPSE_FRACTION",
    "QUANTILES",
    "CompareValue",
    "Comparison",
    "KSResult",
    "Summary",
    "compare",
    "density_estimate",
    "is_collapsed",
    "ks_two_sample",
    "summarize",
]

QUANTILES = (5, 25, 50, 75, 95)
# Generated std below this fraction of the data's counts as mode collapse.
COLLAPSE_FRACTION = 0.1


@dataclass(frozen=True)
class Summary:
    """Mean, population std and the 5/25/50/75/95 % quantiles of a sample."""

    count: int
    mean: float
    std: float
    quantiles: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(x: np.ndarray) -> Summary:
    x = np.asarray(x, dtype=np.float64)
    q = np.percentile(x, QUANTILES)
    return Summary(int(x.size), float(x.mean()), float(x.std()),
                   {f"p{p}": float(v) for p, v in zip(QUANTILES, q)})


@dataclass(frozen=True)
class KSResult:
    """sup_t |F_data(t) - F_generated(t)| and its asymptotic p-value."""

    statistic: float
    pvalue: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test (scipy.stats.ks_2samp, two-sided)."""
    r = sps.ks_2samp(np.asarray(a, np.float64), np.asarray(b, np.float64))
    return KSResult(float(r.statistic), float(r.pvalue))


def density_estimate(samples: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Gaussian kernel density of ``samples`` at ``at`` (scipy.stats.gaussian_kde, Scott's bandwidth)."""
    samples = np.asarray(samples, np.float64)
    if samples.std() == 0:  # a fully collapsed G: all mass at one point
        return np.where(np.asarray(at) == samples[0], np.inf, 0.0)
    return sps.gaussian_kde(samples)(np.asarray(at, np.float64))


def is_collapsed(generated_std: float, data_std: float) -> bool:
    return generated_std < COLLAPSE_FRACTION * data_std


@dataclass(frozen=True)
class CompareValue:
    value: float
    density: float        # under G's samples
    discriminator: float  # D(x) (probability it is real) or the critic's score


@dataclass(frozen=True)
class Comparison:
    """Values ranked by G's density, with one sentence per neighbouring pair."""

    values: list[CompareValue]   # in the order given
    ranking: list[float]         # most likely first
    answers: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"values": [asdict(v) for v in self.values], "ranking": self.ranking, "answers": self.answers}


# Densities within this ratio are reported as "about as likely".
_TIE_RATIO = 1.05


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def compare(values: list[float], densities: np.ndarray, d_outputs: np.ndarray, *,
            probability: bool = True) -> Comparison:
    """Rank ``values`` by G's density and say, per neighbouring pair, which is more likely and what D
    thinks."""
    items = [CompareValue(float(v), float(p), float(d)) for v, p, d in zip(values, densities, d_outputs)]
    ranked = sorted(items, key=lambda c: -c.density)
    d_name = "D(x)" if probability else "critic score"
    answers = []
    for a, b in itertools.pairwise(ranked):
        if a.density == 0:  # both beyond every generated sample: no ranking to give
            verdict = (f"neither {_fmt(a.value)} nor {_fmt(b.value)} is plausible "
                       "(G never generates near them)")
        elif b.density > 0 and a.density / b.density < _TIE_RATIO:
            verdict = f"{_fmt(a.value)} is about as likely as {_fmt(b.value)}"
        else:
            verdict = f"{_fmt(a.value)} is more likely than {_fmt(b.value)}"
        d_view = "agrees" if a.discriminator > b.discriminator else "leans the other way"
        answers.append(f"{verdict}: G's density {a.density:.3g} vs {b.density:.3g}; "
                       f"{d_name} {a.discriminator:.3g} vs {b.discriminator:.3g} ({d_view}).")
    return Comparison(items, [c.value for c in ranked], answers)
