"""progan's cache folder (prepared data sets, real-data metric statistics): one place, one variable."""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "PROGAN_CACHE"


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, else $PROGAN_CACHE, else $XDG_CACHE_HOME/progan, else ~/.cache/progan."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("PROGAN_CACHE"):
        return Path(os.environ["PROGAN_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "progan" if xdg else Path.home() / ".cache" / "progan"
