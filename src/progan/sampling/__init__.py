"""Using a trained generator: latents from seeds, images, grids, videos, arithmetic, projection, export.

One module per job; each works with any generator ``G`` that has ``z_dim``, ``num_classes``,
``channels``, ``output_resolution`` and is called as ``G(z, labels=None)`` -> images in [-1, 1].
"""

from progan.latents import truncated_normal
from progan.sampling.latents import (
    check_classes,
    latents_for_seeds,
    normalize_like,
    parse_classes,
    parse_grid,
    parse_seeds,
)

__all__ = [
    "check_classes",
    "latents_for_seeds",
    "normalize_like",
    "parse_classes",
    "parse_grid",
    "parse_seeds",
    "truncated_normal",
]
