"""progan: Progressive Growing of GANs (Karras et al., ICLR 2018) with BigGAN techniques
(Brock et al., ICLR 2019)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # pragma: no cover
    import torch


def load_generator(path: str, *, device: "str | torch.device" = "cpu", ema: bool = True) -> "torch.nn.Module":
    """Load the (averaged, by default) generator of a progan checkpoint; ``G(z, labels=None)`` -> images
    in [-1, 1]."""
    # `import progan` stays free of torch: the command line and `progan explore` import it before torch
    from progan.training.checkpoint import load_generator as _load

    return _load(path, device=device, ema=ema)


def __getattr__(name: str) -> Any:
    if name == "train":
        from progan.training.loop import train  # as above: torch only when train is asked for

        return train
    raise AttributeError(name)
