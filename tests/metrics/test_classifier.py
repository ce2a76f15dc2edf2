"""The offline classifier: file format (safetensors + JSON metadata), features, accuracy on Fashion-MNIST."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from progan.errors import UserError
from progan.metrics.classifier import FEATURE_DIM, load_classifier, train_classifier


def load_idx_images(path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[i : i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, h, w)


def load_idx_labels(path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)


def fashion_mnist_32(root, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    images = load_idx_images(root / f"{split}-images-idx3-ubyte.gz")[:n]
    labels = load_idx_labels(root / f"{split}-labels-idx1-ubyte.gz")[:n]
    return np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2))), labels  # 28 -> 32 as the reference pads MNIST


def test_roundtrip_metadata_and_features(tmp_path, images_factory):
    images, labels = images_factory(64, 3, 16, 0, classes=3)
    path = tmp_path / "c.safetensors"
    result = train_classifier(images, labels, path, class_names=["a", "b", "c"], epochs=1, batch_size=16)
    model, meta, digest = load_classifier(path)
    assert meta["format"] == "progan-classifier" and meta["class_names"] == ["a", "b", "c"]
    assert meta["num_classes"] == 3 and meta["resolution"] == 16
    assert meta["test_accuracy"] == result.test_accuracy
    assert len(digest) == 64
    x = torch.from_numpy(images[:5])
    feats, logits = model.features_and_logits(x)
    assert feats.shape == (5, FEATURE_DIM) and logits.shape == (5, 3) and bool((feats >= 0).all())
    # smaller inputs are upsampled (nearest) to the classifier's resolution
    small = torch.nn.functional.avg_pool2d(x.float(), 2).round().to(torch.uint8)
    up = small.repeat_interleave(2, 2).repeat_interleave(2, 3)
    torch.testing.assert_close(model.features_and_logits(small)[0], model.features_and_logits(up)[0])


def test_foreign_files_are_refused(tmp_path):
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(UserError, match="not a progan classifier"):
        load_classifier(other)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a file")
    with pytest.raises(UserError, match="not a readable safetensors"):
        load_classifier(garbage)
    with pytest.raises(UserError, match="does not exist"):
        load_classifier(tmp_path / "missing.safetensors")


@pytest.mark.slow
def test_fashion_mnist_subset_accuracy(fashion_mnist_dir, tmp_path):
    """6,000 training images, 2 epochs: well above chance (the full-data ~90% check is in benchmarks/)."""
    images, labels = fashion_mnist_32(fashion_mnist_dir, "train", 6000)
    result = train_classifier(images, labels, tmp_path / "fm.safetensors", epochs=2, test_fraction=0.2)
    assert result.test_accuracy > 0.75
