"""A one-dimensional GAN that learns a distribution of numbers, for teaching (``progan toy``).

G maps noise to numbers, D tells the data's numbers from G's; after training, G's samples answer
"what else could be in this set" and their density answers "is 15 more likely than 24".

Names are imported on first use, so reading and checking numbers does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "LOSSES", "Comparison", "KSResult", "Summary", "ToyConfig", "ToyFrame", "ToyHistory",
    "ToyLoss", "ToyResult", "animate_result", "check_numbers", "collapse_message", "compare",
    "draw_numbers", "ks_two_sample", "parse_numbers", "plot_result", "read_numbers", "report_dict",
    "report_text", "summarize", "train_toy",
]
_MODULES = {
    "data": ("check_numbers", "draw_numbers", "parse_numbers", "read_numbers"),
    "losses": ("LOSSES", "ToyLoss"),
    "stats": ("Comparison", "KSResult", "Summary", "compare", "ks_two_sample", "summarize"),
    "train": ("ToyConfig", "ToyFrame", "ToyHistory", "ToyResult", "train_toy"),
    "plots": ("animate_result", "plot_result"),
    "report": ("collapse_message", "report_dict", "report_text"),
}
_MODULE_OF = {name: module for module, names in _MODULES.items() for name in names}

if TYPE_CHECKING:
    from progan.toy.data import check_numbers, draw_numbers, parse_numbers, read_numbers
    from progan.toy.losses import LOSSES, ToyLoss
    from progan.toy.plots import animate_result, plot_result
    from progan.toy.report import collapse_message, report_dict, report_text
    from progan.toy.stats import Comparison, KSResult, Summary, compare, ks_two_sample, summarize
    from progan.toy.train import ToyConfig, ToyFrame, ToyHistory, ToyResult, train_toy


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
