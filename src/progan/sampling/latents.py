"""Latents from seeds, BigGAN's truncation trick, and parsing of seed / class / grid options.

A seed names one latent: seed ``s`` always gives the same ``z`` whatever the batch it is
drawn in, the batch size or the device, because every seed has a CPU ``torch.Generator``
of its own (as ``generate.py`` of stylegan2-ada-pytorch does with NumPy's ``RandomState``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import Tensor

from progan.errors import UserError
from progan.latents import truncated_normal

__all__ = [
    "MAX_SEED",
    "check_classes",
    "latents_for_seeds",
    "normalize_like",
    "parse_class_list",
    "parse_classes",
    "parse_grid",
    "parse_seeds",
]

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed accepts up to this value
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")
_GRID = re.compile(r"^(\d+)x(\d+)$")


def _parse_int_list(text: str, what: str, example: str) -> list[int]:
    items = [p.strip() for p in str(text).split(",")]
    if not str(text).strip() or any(not p for p in items):
        raise UserError(f"{what} {text!r} is empty or has an empty item: use a list like {example}")
    out: list[int] = []
    for part in items:
        m = _RANGE.match(part)
        if m is None:
            raise UserError(f"bad {what} {part!r} in {text!r}: "
                            f"use non-negative integers and ranges like {example}")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise UserError(f"bad {what} range {part!r}: the end is below the start")
        if hi > MAX_SEED:
            raise UserError(f"{what} {hi} is too large (at most {MAX_SEED})")
        if hi - lo >= 1_000_000:
            raise UserError(f"{what} range {part!r} has more than a million entries")
        out.extend(range(lo, hi + 1))
    return out


def parse_seeds(text: str) -> list[int]:
    """``"0-99,120,200-202"`` -> ``[0, ..., 99, 120, 200, 201, 202]`` (order kept, duplicates kept).

    Raises a one-line :class:`UserError` on bad syntax, negative numbers or an empty list.
    """
    return _parse_int_list(text, "seeds", "0-99,120,200-202")


def parse_class_list(text: str) -> list[int]:
    """``"0,3-5"`` -> ``[0, 3, 4, 5]`` (syntax only; see :func:`check_classes` for the range)."""
    return _parse_int_list(text, "classes", "0,3-5")


def parse_classes(text: str, num_classes: int) -> list[int]:
    """``"0,3-5"`` -> class indices, each checked against ``num_classes`` (0 = unconditional)."""
    classes = parse_class_list(text)
    check_classes(classes, num_classes)
    return classes


def check_classes(classes: Sequence[int] | None, num_classes: int) -> None:
    """A class outside ``[0, num_classes)``, or any class for an unconditional network, is a UserError."""
    if not classes:
        return
    if num_classes <= 0:
        raise UserError("--class given but this network is unconditional (it was trained without labels)")
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise UserError(f"class {bad[0]} is out of range: this network has classes 0..{num_classes - 1}")


def parse_grid(text: str) -> tuple[int, int]:
    """``"8x4"`` -> ``(cols, rows)`` = ``(8, 4)``."""
    m = _GRID.match(str(text).strip().lower())
    if m is None or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise UserError(f"bad grid {text!r}: use COLSxROWS with positive integers, like 8x4")
    return int(m.group(1)), int(m.group(2))


def latents_for_seeds(
    seeds: Sequence[int],
    z_dim: int,
    *,
    truncation: float | None = None,
    device: str | torch.device = "cpu",
) -> Tensor:
    """``[len(seeds), z_dim]`` latents, row ``i`` drawn from ``torch.Generator().manual_seed(seeds[i])``.

    ``truncation`` (> 0) draws from the truncated normal of :func:`truncated_normal`. The draw is
    on the CPU, so a seed gives the same latent on every device and in every batch.
    """
    if truncation is not None and not truncation > 0:
        raise UserError(f"truncation must be > 0, got {truncation}")
    rows = []
    for seed in seeds:
        if not 0 <= int(seed) <= MAX_SEED:
            raise UserError(f"seed {seed} is out of range 0..{MAX_SEED}")
        g = torch.Generator().manual_seed(int(seed))
        if truncation is None:
            rows.append(torch.randn(z_dim, generator=g))
        else:
            rows.append(truncated_normal((z_dim,), truncation, generator=g))
    if not rows:
        return torch.empty(0, z_dim, device=device)
    return torch.stack(rows).to(device)


def normalize_like(z: Tensor, G: torch.nn.Module) -> Tensor:
    """Rescale latents to norm ``sqrt(z_dim)`` when ``G`` pixel-normalises its input anyway.

    A ProGAN generator with ``normalize_latents`` only sees the direction of ``z``; putting averaged
    or interpolated latents back on that sphere keeps them where the training latents lived.
    Generators that do not normalise get ``z`` unchanged.
    """
    cfg = getattr(G, "cfg", None)
    if not getattr(cfg, "normalize_latents", False):
        return z
    norm = z.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return z * (z.shape[-1] ** 0.5 / norm)
