"""Latent distributions shared by training, metrics and sampling: the lowest layer that needs them."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from progan.errors import UserError

_MAX_RESAMPLE_ROUNDS = 10_000


def truncated_normal(
    shape: Sequence[int] | torch.Size,
    threshold: float,
    *,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> Tensor:
    """Standard normal samples with every value inside ``[-threshold, threshold]``.

    BigGAN's truncation trick (Brock et al. 2019, Sec. 3.1): values whose magnitude exceeds the
    threshold are *resampled* until they fall inside, so the result follows the normal density
    restricted to the interval (renormalised), not a clipped or rescaled one. Draws happen on the
    generator's device (CPU when none is given) and the result is moved to ``device``.
    """
    if not threshold > 0:  # also rejects NaN
        raise UserError(f"truncation threshold must be > 0, got {threshold}")
    gen_device = generator.device if generator is not None else torch.device("cpu")
    z = torch.randn(tuple(shape), generator=generator, device=gen_device)
    for _ in range(_MAX_RESAMPLE_ROUNDS):
        outside = z.abs() > threshold
        n = int(outside.sum())
        if n == 0:
            return z if device is None else z.to(device)
        z[outside] = torch.randn(n, generator=generator, device=gen_device)
    # Only thresholds far below one standard deviation get here (acceptance ~ threshold * 0.8).
    raise UserError(f"truncation threshold {threshold} is too small to sample from; use a value >= 0.01")
