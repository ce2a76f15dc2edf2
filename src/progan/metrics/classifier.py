"""An offline feature extractor and label predictor: a small CNN trained on a prepared labelled data set.

No published reference: this stands in for Inception when its weights cannot be downloaded. FID/KID and
precision/recall on its 128-D penultimate features are comparable only between runs that use the same
classifier file (its sha256 names it in cached statistics). For conditional generators, ``cas`` is the
share of samples classified as the class they were generated for (the accuracy half of the
"classification accuracy score" idea of Ravuri & Vinyals 2019, with a classifier trained on reals).
Stored as safetensors with JSON metadata; nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from progan.data import dataset as datasets  # looked up at call time (tests swap open_dataset)
from progan.errors import UserError

FORMAT = "progan-classifier"
FORMAT_VERSION = 1
FEATURE_DIM = 128

__all__ = ["Classifier", "ClassifierTrainResult", "train_classifier", "train_classifier_on_dataset",
           "load_classifier", "save_classifier"]


class Classifier(nn.Module):
    """Three conv/pool stages and a 128-D hidden layer; input uint8 [N, C, R, R] at any power-of-two R."""

    def __init__(self, channels: int, resolution: int, num_classes: int) -> None:
        super().__init__()
        self.channels, self.resolution, self.num_classes = channels, resolution, num_classes
        self.class_names: list[str] = []
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
        )
        self.hidden = nn.Linear(128 * 16, FEATURE_DIM)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images of any size -> float [-1, 1] at the classifier's resolution (nearest up, box down)."""
        if images.shape[1] != self.channels:
            if images.shape[1] == 1:
                images = images.expand(-1, self.channels, -1, -1)
            elif self.channels == 1:
                images = images.float().mean(dim=1, keepdim=True)
            else:
                raise UserError(f"classifier expects {self.channels}-channel images, got {images.shape[1]}")
        x = images.float() / 127.5 - 1.0
        r = x.shape[-1]
        if r < self.resolution:
            x = F.interpolate(x, scale_factor=self.resolution // r, mode="nearest")
        elif r > self.resolution:
            x = F.avg_pool2d(x, r // self.resolution)
        return x

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.hidden(self.conv(self.prepare(images)).flatten(1)))
        return h, self.head(self.dropout(h))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features_and_logits(images)[1]


@dataclass
class ClassifierTrainResult:
    path: Path
    test_accuracy: float
    train_images: int
    test_images: int
    epochs: int
    seconds: float


def save_classifier(model: Classifier, path: str | Path, extra: dict[str, object]) -> None:
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "channels": model.channels,
        "resolution": model.resolution, "num_classes": model.num_classes, "class_names": model.class_names,
        **extra,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp),
              metadata={"progan": json.dumps(meta)})
    tmp.replace(path)


def load_classifier(path: str | os.PathLike[str],
                    device: "str | torch.device" = "cpu") -> tuple[Classifier, dict[str, Any], str]:
    """(model in eval mode, metadata, sha256 of the file); UserError if it is not a progan classifier."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"classifier file {path} does not exist; "
                        "create one with progan classifier train --data DIR")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get("progan", "{}"))
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as e:
        raise UserError(f"{path} is not a readable safetensors file ({e})") from None
    if meta.get("format") != FORMAT:
        raise UserError(f"{path} is not a progan classifier (train one with progan classifier train)")
    model = Classifier(int(meta["channels"]), int(meta["resolution"]), int(meta["num_classes"]))
    model.class_names = list(meta.get("class_names") or [])
    try:
        model.load_state_dict(tensors)
    except RuntimeError as e:
        raise UserError(f"{path} does not match the classifier architecture "
                        f"({str(e).splitlines()[0]})") from None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return model.to(device).eval(), meta, digest


def _accuracy(model: Classifier, images: np.ndarray, labels: np.ndarray, device: torch.device,
              bs: int) -> float:
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(images), bs):
            x = torch.from_numpy(np.ascontiguousarray(images[i : i + bs])).to(device)
            correct += int((model(x).argmax(1).cpu().numpy() == labels[i : i + bs]).sum())
    return correct / max(1, len(images))


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    out: str | Path,
    *,
    class_names: list[str] | None = None,
    epochs: int = 3,
    batch_size: int = 128,
    lr: float = 2e-3,
    test_fraction: float = 0.1,
    seed: int = 0,
    device: "str | torch.device" = "cpu",
    source: str = "",
    progress: bool = False,
) -> ClassifierTrainResult:
    """Train on uint8 [N, C, R, R] images with int labels (a seeded held-out share measures accuracy),
    save."""
    if images.ndim != 4 or len(images) != len(labels):
        raise UserError("classifier: expected uint8 [N, C, R, R] images and N labels, "
                        f"got {images.shape}, {labels.shape}")
    num_classes = int(labels.max()) + 1
    if num_classes < 2:
        raise UserError("classifier: the data set needs at least 2 classes")
    t0 = time.time()
    dev = torch.device(device)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    n_test = max(1, int(round(len(images) * test_fraction)))
    test_idx, train_idx = np.sort(order[:n_test]), order[n_test:]
    torch.manual_seed(seed)
    model = Classifier(images.shape[1], images.shape[2], num_classes).to(dev)
    model.class_names = list(class_names or [])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(train_idx) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, steps))
    bar = None
    if progress:
        bar = tqdm(total=steps, desc="classifier", unit="step")
    for _ in range(epochs):
        model.train()
        perm = train_idx[rng.permutation(len(train_idx))]
        for i in range(0, len(perm), batch_size):
            idx = np.sort(perm[i : i + batch_size])  # sorted reads are faster on memory-mapped data
            x = torch.from_numpy(np.ascontiguousarray(images[idx])).to(dev)
            y = torch.from_numpy(np.asarray(labels[idx], dtype=np.int64)).to(dev)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
    if bar is not None:
        bar.close()
    acc = _accuracy(model, images[test_idx], np.asarray(labels)[test_idx], dev, 512)
    save_classifier(model, out, {"test_accuracy": acc, "source": source, "epochs": epochs,
                                 "train_images": int(len(train_idx)), "test_images": int(n_test)})
    return ClassifierTrainResult(Path(out), acc, int(len(train_idx)), int(n_test), epochs, time.time() - t0)


def train_classifier_on_dataset(
    data_dir: str | Path,
    out: str | Path,
    *,
    epochs: int = 3,
    batch_size: int = 128,
    seed: int = 0,
    device: "str | torch.device" = "cpu",
    progress: bool = False,
) -> ClassifierTrainResult:
    """Train on the full-resolution level of a prepared, labelled data set (``progan classifier train``)."""
    ds = datasets.open_dataset(data_dir)
    if ds.labels is None or ds.num_classes < 2:
        raise UserError(f"data set {data_dir} has no labels; "
                        "prepare a labelled one (e.g. with --labels) to train a classifier")
    return train_classifier(ds.images(ds.resolution), np.asarray(ds.labels), out, class_names=ds.class_names,
                            epochs=epochs, batch_size=batch_size, seed=seed, device=device,
                            source=str(Path(data_dir).resolve()), progress=progress)
