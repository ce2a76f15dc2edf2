"""Real data: Fashion-MNIST from Debian's dataset-fashion-mnist, and the cached demo set of progan train."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from progan.data import Loader, default_dataset_dir, open_dataset, prepare
from progan.errors import DataError


def test_fashion_mnist_train_in_tf_release_order(fashion_mnist_dir: Path, tmp_path: Path) -> None:
    ds = open_dataset(prepare(fashion_mnist_dir, tmp_path / "fm", progress=False))
    with gzip.open(fashion_mnist_dir / "train-images-idx3-ubyte.gz") as f:
        raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(fashion_mnist_dir / "train-labels-idx1-ubyte.gz") as f:
        lab = np.frombuffer(f.read(), np.uint8, offset=8)
    order = np.random.RandomState(123).permutation(60000)
    assert (len(ds), ds.resolution, ds.channels, ds.num_classes) == (60000, 32, 1, 10)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    rows = np.array([0, 1, 59999])
    np.testing.assert_array_equal(ds.images(32)[rows, 0, 2:30, 2:30], raw[order[rows]])
    assert ds.images(32)[:, :, :2].max() == 0 and ds.images(32)[:, :, :, 30:].max() == 0
    np.testing.assert_array_equal(ds.labels, lab[order])
    assert np.bincount(ds.labels).tolist() == [6000] * 10
    x, y = Loader(ds).next(64, 32)
    assert x.shape == (64, 1, 32, 32) and float(x.min()) == -1.0


def test_default_dataset_dir_caches(fashion_mnist_dir: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROGAN_CACHE", str(tmp_path / "cache"))
    path = default_dataset_dir()
    assert path == tmp_path / "cache" / "datasets" / "fashion-mnist-train-32"
    stamp = (path / "dataset.json").stat().st_mtime_ns
    assert default_dataset_dir() == path and (path / "dataset.json").stat().st_mtime_ns == stamp
    ds = open_dataset(path)
    assert (len(ds), ds.resolution, ds.channels, ds.num_classes) == (60000, 32, 1, 10)


def test_default_dataset_dir_missing_source_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist.*--data") as info:
        default_dataset_dir(tmp_path / "cache", source=tmp_path / "nothing")
    assert "\n" not in str(info.value)


def test_resolve_data_prepares_raw_sources_once(tmp_path: Path) -> None:
    from data_builders import make_idx_folder  # type: ignore[import-not-found]

    from progan.data import resolve_data

    make_idx_folder(tmp_path / "mnist")
    first = resolve_data(tmp_path / "mnist", tmp_path / "cache", progress=False)
    assert first.parent == tmp_path / "cache" / "datasets" and len(open_dataset(first)) == 20
    stamp = (first / "dataset.json").stat().st_mtime_ns
    assert resolve_data(tmp_path / "mnist", tmp_path / "cache") == first
    assert (first / "dataset.json").stat().st_mtime_ns == stamp
    assert resolve_data(first) == first  # a prepared folder is used as it is
    with pytest.raises(DataError, match="does not exist"):
        resolve_data(tmp_path / "missing", tmp_path / "cache")
