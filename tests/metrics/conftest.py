"""Stand-ins for the interfaces metrics consume: a prepared data set and a generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage
import torch
import torch.nn as nn


class FakeDataset:
    """Same surface as progan.data.dataset.Dataset: box-averaged levels, optional labels, meta checksums."""

    def __init__(self, path: Path, images: np.ndarray, labels: np.ndarray | None) -> None:
        self.path = path
        self.resolution, self.channels = images.shape[-1], images.shape[1]
        self.num_classes = 0 if labels is None else int(labels.max()) + 1
        self.class_names = [f"c{i}" for i in range(self.num_classes)]
        self.labels = labels
        self._levels = {self.resolution: images}
        x = images.astype(np.float64)
        while x.shape[-1] > 4:
            x = (x[..., 0::2, 0::2] + x[..., 1::2, 0::2] + x[..., 0::2, 1::2] + x[..., 1::2, 1::2]) / 4
            self._levels[x.shape[-1]] = x.round().astype(np.uint8)
        self.meta = {"levels": [{"resolution": r, "sha256": str(hash(a.tobytes()))}
                                for r, a in self._levels.items()]}

    def __len__(self) -> int:
        return len(self.labels) if self.labels is not None else len(self._levels[self.resolution])

    def images(self, res: int) -> np.ndarray:
        return self._levels[res]


def make_images(n: int, c: int, res: int, seed: int,
                classes: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """Blurred noise whose brightness depends on the class, so classes are learnable."""
    rng = np.random.default_rng(seed)
    x = scipy.ndimage.gaussian_filter(rng.normal(size=(n, c, res, res)), sigma=(0, 0, 1.5, 1.5))
    x = (x - x.mean()) / x.std() * 40 + 128
    labels = None
    if classes:
        labels = rng.integers(0, classes, n).astype(np.int64)
        x += (labels[:, None, None, None] - (classes - 1) / 2) * 30
    return np.clip(x, 0, 255).round().astype(np.uint8), labels


@pytest.fixture
def images_factory():
    return make_images


@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    """A factory registering in-memory data sets under folder paths that open_dataset resolves."""
    registry: dict[str, FakeDataset] = {}

    def make(n=64, c=3, res=32, classes=0, seed=0, name="data"):
        images, labels = make_images(n, c, res, seed, classes)
        path = tmp_path / name
        path.mkdir(exist_ok=True)
        registry[str(path)] = FakeDataset(path, images, labels)
        return path

    import progan.data.dataset as dataset_module

    def open_dataset(path, verify=False):
        from progan.errors import DataError

        if str(path) not in registry:
            raise DataError(f"{path} is not a prepared data set")
        return registry[str(path)]

    monkeypatch.setattr(dataset_module, "open_dataset", open_dataset)
    return make


class TinyG(nn.Module):
    """The generator interface: z_dim, num_classes, resolution, channels, lod, output_resolution;
    G(z, labels)."""

    def __init__(self, res: int = 32, channels: int = 3, num_classes: int = 0, z_dim: int = 8) -> None:
        super().__init__()
        self.z_dim, self.num_classes, self.resolution, self.channels = z_dim, num_classes, res, channels
        self.lod, self.output_resolution = 0.0, res
        self.fc = nn.Linear(z_dim + max(num_classes, 1), channels * 8 * 8)
        self.seen_training: list[bool] = []
        self.seen_labels: list[torch.Tensor] = []

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.seen_training.append(self.training)
        onehot = torch.zeros(len(z), max(self.num_classes, 1))
        if labels is not None:
            self.seen_labels.append(labels)
            onehot[torch.arange(len(z)), labels] = 1.0
        x = self.fc(torch.cat([z, onehot], 1)).view(-1, self.channels, 8, 8)
        x = nn.functional.interpolate(x, size=self.output_resolution, mode="bilinear", align_corners=False)
        return torch.tanh(x) * 1.05  # may slightly exceed [-1, 1], as real generators do


@pytest.fixture
def tiny_g():
    torch.manual_seed(0)
    return TinyG


@pytest.fixture(autouse=True)
def _single_thread():
    """On this shared 2-core machine torch's spinning OpenMP threads make small ops 10-50x slower when the
    other core is busy; metric numbers do not depend on the thread count, so the tests run
    single-threaded."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
