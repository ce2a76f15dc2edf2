"""Seeds, classes, grids and BigGAN's truncated normal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import kstest, truncnorm

from progan.errors import UserError
from progan.latents import truncated_normal
from progan.sampling.latents import (
    check_classes,
    latents_for_seeds,
    normalize_like,
    parse_classes,
    parse_grid,
    parse_seeds,
)


def test_parse_seeds_ranges_and_singles() -> None:
    assert parse_seeds("0-3,7, 10-11") == [0, 1, 2, 3, 7, 10, 11]
    assert parse_seeds("5") == [5]
    assert len(parse_seeds("0-99,120,200-202")) == 104


@pytest.mark.parametrize("bad", ["", " ", "1,,2", "-1", "3-1", "a", "1-2-3", "1.5", "0-5000000"])
def test_parse_seeds_rejects_bad_syntax(bad: str) -> None:
    with pytest.raises(UserError) as e:
        parse_seeds(bad)
    assert "\n" not in str(e.value)


def test_classes_checked_against_the_network() -> None:
    assert parse_classes("0,2", 3) == [0, 2]
    with pytest.raises(UserError, match="out of range"):
        parse_classes("3", 3)
    with pytest.raises(UserError, match="unconditional"):
        check_classes([0], 0)
    check_classes(None, 0)


def test_parse_grid() -> None:
    assert parse_grid("8x4") == (8, 4)
    for bad in ("8", "0x3", "8x", "x4", "8*4"):
        with pytest.raises(UserError):
            parse_grid(bad)


def test_seed_gives_same_latent_in_any_batch() -> None:
    a = latents_for_seeds([3, 4, 5], 32)
    b = latents_for_seeds([5], 32)
    assert torch.equal(a[2], b[0])
    assert torch.equal(a[0], torch.randn(32, generator=torch.Generator().manual_seed(3)))
    assert not torch.equal(a[0], a[1])


def test_truncation_changes_latents_and_respects_threshold() -> None:
    plain = latents_for_seeds(range(200), 64)
    trunc = latents_for_seeds(range(200), 64, truncation=0.5)
    assert trunc.abs().max().item() <= 0.5
    assert plain.abs().max().item() > 2.0
    # Entries already inside the threshold are kept: the first draw of every seed stays where it fits.
    inside = plain.abs() <= 0.5
    first_rows_equal = (trunc[:, 0] == plain[:, 0])[inside[:, 0]]
    assert first_rows_equal.all()
    assert not torch.equal(plain, trunc)


@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
def test_truncated_normal_is_the_renormalised_normal(threshold: float) -> None:
    """Resampling keeps the normal's shape inside the interval (unlike clipping or rescaling)."""
    z = truncated_normal((200_000,), threshold, generator=torch.Generator().manual_seed(0))
    assert z.abs().max().item() <= threshold
    ks = kstest(z.numpy(), truncnorm(-threshold, threshold).cdf)
    assert ks.statistic < 0.005, ks
    # Reference variance of N(0,1) restricted to [-a, a]: 1 - 2 a phi(a) / (2 Phi(a) - 1).
    a = threshold
    phi = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    big_phi = 0.5 * (1 + math.erf(a / math.sqrt(2)))
    assert z.var().item() == pytest.approx(1 - 2 * a * phi / (2 * big_phi - 1), rel=0.01)


def test_truncated_normal_rejects_bad_threshold() -> None:
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(UserError):
            truncated_normal((4,), bad)


def test_normalize_like_only_for_normalising_generators() -> None:
    class Plain(torch.nn.Module):
        pass

    class WithCfg(torch.nn.Module):
        class cfg:
            normalize_latents = True

    z = torch.randn(5, 16) * 3
    assert torch.equal(normalize_like(z, Plain()), z)
    np.testing.assert_allclose(normalize_like(z, WithCfg()).norm(dim=1).numpy(), np.full(5, 4.0), rtol=1e-6)
