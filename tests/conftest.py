"""Shared fixtures: Fashion-MNIST, a small prepared set of it and tiny-preset configurations.

Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` package. Under CI
(``CI=true``) a missing data set is a failure; elsewhere those tests skip and
say how to install it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from progan.config import TrainConfig
from progan.config_io import apply_override
from progan.presets import get_preset

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> Path:
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        msg = f"Fashion-MNIST not found in {FASHION_MNIST_DIR}: apt-get install dataset-fashion-mnist"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return FASHION_MNIST_DIR


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
        # One thread: runs are compared bit for bit, and a thread count that follows the machine's load
        # (the default) rounds differently when another process starts.
        for a in (f"run.data={data}", f"run.outdir={outdir}", f"schedule.total_kimg={kimg}", "run.device=cpu",
                  "compute.threads=1", *extra):
            apply_override(cfg, a)
        return cfg

    return make
