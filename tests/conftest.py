"""Shared fixtures.

Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` package. Under CI
(``CI=true``) a missing data set is a failure; elsewhere those tests skip and
say how to install it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> Path:
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        msg = f"Fashion-MNIST not found in {FASHION_MNIST_DIR}: apt-get install dataset-fashion-mnist"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return FASHION_MNIST_DIR
