"""Projection discriminator head (Miyato & Koyama 2018), as BigGAN's D (Brock et al. 2019).

``score = linear(h) + <embed(y), h>`` for pooled features ``h``: the class enters as an inner
product with the features instead of an input channel or an auxiliary classifier.
"""

from __future__ import annotations

from torch import Tensor, nn

from progan.nn.spectral import SN_LINEAR, LinearFactory, embedding


class ProjectionHead(nn.Module):
    """``[N, F]`` features (and class indices ``[N]``) -> scores ``[N]``; unconditional when
    ``num_classes == 0``."""

    def __init__(
        self,
        features: int,
        num_classes: int,
        which_linear: LinearFactory = SN_LINEAR,
        *,
        sn: bool = True,          # spectral norm on the class embedding too (as D's other layers)
        ortho: bool = True,       # orthogonal init of the class embedding (as D's other layers)
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.linear = which_linear(features, 1)
        self.embed = embedding(num_classes, features, sn=sn, ortho=ortho) if num_classes > 0 else None

    def forward(self, h: Tensor, labels: Tensor | None = None) -> Tensor:
        out = self.linear(h)[:, 0]
        if self.embed is None:
            return out
        return out + projection_term(self.embed, h, labels)


def projection_term(embed: nn.Embedding, h: Tensor, labels: Tensor | None) -> Tensor:
    """``<embed(y), h>`` per sample: ``[N]``. Labels are class indices ``[N]`` (or soft rows ``[N, K]``,
    which project onto the label-weighted mix of class embeddings)."""
    if labels is None:
        raise ValueError("this discriminator is conditional (projection): pass labels")
    if labels.dim() == 1:
        return (embed(labels.long()) * h).sum(dim=1)
    return ((labels.to(h.dtype) @ embed.weight) * h).sum(dim=1)
