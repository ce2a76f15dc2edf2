"""Fixtures for training tests: a small prepared Fashion-MNIST set and tiny-preset configurations."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from progan.config import TrainConfig
from progan.config_io import apply_override
from progan.presets import get_preset


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory, fashion_mnist_dir: Path) -> Path:
    """512 Fashion-MNIST training images, prepared at 32x32."""
    from progan.data import prepare

    out = tmp_path_factory.mktemp("data") / "fm"
    prepare(fashion_mnist_dir, out, max_images=512, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_config() -> Callable[..., TrainConfig]:
    """``tiny_config(data, outdir, kimg, "section.field=value", ...)`` -> the tiny preset on the CPU."""

    def make(data: Path, outdir: Path, kimg: float, *extra: str) -> TrainConfig:
        cfg = get_preset("tiny")
        for a in (f"run.data={data}", f"run.outdir={outdir}", f"schedule.total_kimg={kimg}", "run.device=cpu",
                  *extra):
            apply_override(cfg, a)
        return cfg

    return make
