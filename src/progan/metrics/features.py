"""Feature extractors for FID/KID/IS/precision-recall: TF-Inception (standard) or the offline classifier."""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np
import torch

from progan.metrics._images import ImageSource
from progan.metrics.classifier import load_classifier
from progan.metrics.inception import InceptionV3

__all__ = ["FeatureExtractor", "make_extractor", "extract"]


class FeatureExtractor(Protocol):
    fingerprint: str   # identifies the weights in cache keys

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class _ClassifierExtractor:
    def __init__(self, path: str | os.PathLike[str], device: torch.device) -> None:
        self.model, self.meta, digest = load_classifier(path, device)
        self.fingerprint = "classifier-" + digest[:16]

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.features_and_logits(images)


def make_extractor(
    features_path: str | os.PathLike[str] | None,
    inception_weights: str | os.PathLike[str] | None,
    device: torch.device,
) -> FeatureExtractor:
    """The classifier of ``features_path`` if given, else TF-Inception (UserError if its weights are
    missing)."""
    if features_path:
        return _ClassifierExtractor(features_path, device)
    net = InceptionV3(inception_weights).to(device)
    return net


def extract(
    extractor: FeatureExtractor,
    source: ImageSource,
    device: torch.device,
    batch_size: int,
) -> dict[str, np.ndarray]:
    """{'features': float32 [N, D], 'logits': float32 [N, K]} of every image of ``source``."""
    feats, logits = [], []
    with torch.no_grad():
        for start in range(0, len(source), batch_size):
            batch = source.batch(start, min(len(source), start + batch_size), device)
            f, lg = extractor.features_and_logits(batch)
            feats.append(f.float().cpu().numpy())
            logits.append(lg.float().cpu().numpy())
    return {"features": np.concatenate(feats), "logits": np.concatenate(logits)}
