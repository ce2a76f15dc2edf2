"""Metric registry and ``evaluate``: sample a generator, select reals, run the requested metrics.

Each metric maps an :class:`EvalContext` to named values. Keys follow one convention so that logs
are uniform: the headline value is named after the metric (``fid``, ``msssim``, ...) or ``avg`` (SWD).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch

from progan.data import dataset as datasets  # looked up at call time (tests swap open_dataset)
from progan.errors import UserError
from progan.metrics._images import ImageSource
from progan.metrics.cache import cache_key, cached_arrays
from progan.metrics.classifier import load_classifier
from progan.metrics.features import FeatureExtractor, extract, make_extractor
from progan.metrics.frechet import fid_from_features
from progan.metrics.inception import import_fidelity_inception, resolve_weights
from progan.metrics.inception_score import inception_score
from progan.metrics.kid import kernel_inception_distance
from progan.metrics.msssim import MIN_RESOLUTION as MSSSIM_MIN_RES
from progan.metrics.msssim import ms_ssim
from progan.metrics.precision_recall import precision_recall
from progan.metrics.sources import RealSet, generate_samples, open_reals
from progan.metrics.swd import sliced_wasserstein
from progan.numerics import metric_numerics

DEFAULT_NUM_IMAGES = 10_000
_CAS_NEEDS_CLASSIFIER = ("metric cas needs a classifier: pass --features FILE "
                         "(progan classifier train --data DIR)")

__all__ = ["METRICS", "FEATURE_METRICS", "EvalContext", "evaluate", "check_metric_names"]


@dataclass
class EvalContext:
    reals: ImageSource
    fakes: ImageSource
    real_labels: np.ndarray | None
    fake_labels: np.ndarray | None
    real_set: RealSet
    real_selection: dict[str, object]
    seed: int
    device: torch.device
    batch_size: int
    features_path: str | None
    inception_weights: str | None
    cache_dir: str | None
    _extractor: FeatureExtractor | None = None
    _fake_feats: dict[str, np.ndarray] | None = None
    _real_feats: dict[str, np.ndarray] | None = field(default=None, repr=False)

    def extractor(self) -> FeatureExtractor:
        if self._extractor is None:
            self._extractor = make_extractor(self.features_path, self.inception_weights, self.device)
        return self._extractor

    def real_features(self) -> dict[str, np.ndarray]:
        if self._real_feats is None:
            ext = self.extractor()
            key = cache_key(kind="real-features", data=self.real_set.fingerprint,
                            resolution=self.real_set.resolution, selection=self.real_selection,
                            extractor=ext.fingerprint)
            self._real_feats = cached_arrays(self.cache_dir, "reals", key,
                                             lambda: extract(ext, self.reals, self.device, self.batch_size))
        return self._real_feats

    def fake_features(self) -> dict[str, np.ndarray]:
        if self._fake_feats is None:
            self._fake_feats = extract(self.extractor(), self.fakes, self.device, self.batch_size)
        return self._fake_feats


def _first(source: ImageSource, n: int) -> ImageSource:
    if len(source) == n:
        return source
    index = np.arange(len(source)) if source.index is None else source.index
    return ImageSource(source.data, index[:n])


def _equal_counts(ctx: EvalContext) -> tuple[ImageSource, ImageSource]:
    """SWD compares equal-sized sets (a data set smaller than --num gives fewer reals than fakes)."""
    n = min(len(ctx.reals), len(ctx.fakes))
    return _first(ctx.reals, n), _first(ctx.fakes, n)


def _swd(ctx: EvalContext) -> dict[str, float]:
    reals, fakes = _equal_counts(ctx)
    return sliced_wasserstein(reals, fakes, seed=ctx.seed, device=ctx.device)


def _msssim(ctx: EvalContext) -> dict[str, float]:
    if ctx.fakes.resolution < MSSSIM_MIN_RES:
        warnings.warn(f"MS-SSIM needs >= {MSSSIM_MIN_RES}x{MSSSIM_MIN_RES} images; reporting NaN at "
                      f"{ctx.fakes.resolution}x{ctx.fakes.resolution}", stacklevel=2)
        return {"msssim": math.nan}
    return {"msssim": ms_ssim(ctx.fakes, device=ctx.device)}


def _fid(ctx: EvalContext) -> dict[str, float]:
    return {"fid": fid_from_features(ctx.real_features()["features"], ctx.fake_features()["features"])}


def _kid(ctx: EvalContext) -> dict[str, float]:
    mean, std = kernel_inception_distance(ctx.real_features()["features"], ctx.fake_features()["features"],
                                          seed=ctx.seed)
    return {"kid": mean, "kid_std": std}


def _is(ctx: EvalContext) -> dict[str, float]:
    mean, std = inception_score(ctx.fake_features()["logits"])
    return {"is": mean, "is_std": std}


def _pr(ctx: EvalContext) -> dict[str, float]:
    p, r = precision_recall(ctx.real_features()["features"], ctx.fake_features()["features"],
                            device=ctx.device)
    return {"precision": p, "recall": r}


def _cas(ctx: EvalContext) -> dict[str, float]:
    if not ctx.features_path:
        raise UserError(_CAS_NEEDS_CLASSIFIER)
    if ctx.fake_labels is None:
        raise UserError("metric cas needs a conditional generator (or --real-vs-real on a labelled data set)")
    pred = ctx.fake_features()["logits"].argmax(axis=1)
    return {"cas": float((pred == ctx.fake_labels).mean())}


METRICS: dict[str, Callable[[EvalContext], dict[str, float]]] = {
    "swd": _swd,
    "msssim": _msssim,
    "fid": _fid,
    "kid": _kid,
    "is": _is,
    "pr": _pr,
    "cas": _cas,
}
FEATURE_METRICS = frozenset({"fid", "kid", "is", "pr", "cas"})


def check_metric_names(metrics: list[str]) -> list[str]:
    names = [m.strip().lower() for m in metrics if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise UserError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    if not names:
        raise UserError(f"no metrics given; choose from {', '.join(METRICS)}")
    return list(dict.fromkeys(names))


def _check_features_available(names: list[str], features_path: str | None,
                              inception_weights: str | None) -> None:
    """Fail before any sampling when a feature metric cannot run."""
    if not FEATURE_METRICS.intersection(names):
        return
    if features_path:
        load_classifier(features_path)
    else:
        if "cas" in names:
            raise UserError(_CAS_NEEDS_CLASSIFIER)
        import_fidelity_inception()
        resolve_weights(inception_weights)


@metric_numerics()  # no TF32: features must not depend on the GPU generation or the batch size
def evaluate(
    G: torch.nn.Module | None,
    data_dir: str | os.PathLike[str],
    metrics: list[str],
    *,
    num_images: int | None = None,
    seed: int = 0,
    device: "str | torch.device" = "cpu",
    batch_size: int = 64,
    truncation: float | None = None,
    features_path: str | os.PathLike[str] | None = None,
    inception_weights: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    real_vs_real: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> dict[str, dict[str, float]]:
    """Run ``metrics`` on ``num_images`` samples of G against as many reals of the matching level.

    Reals come from the data set level equal to ``G.output_resolution`` (a seeded subset); a conditional
    G gets labels drawn from the data set's label distribution. ``real_vs_real`` compares two disjoint
    real halves instead (the noise floor; G may be None). G's train/eval mode is left as it was.
    Returns ``{metric: {key: value}}``; the headline key is the metric's name (``avg`` for SWD).

    Under ``torch.distributed`` every rank calls this with the same arguments: the samples are generated
    by all ranks (see :func:`generate_samples`), the metrics computed on rank 0; other ranks return ``{}``.
    """
    names = check_metric_names(list(metrics))
    num = DEFAULT_NUM_IMAGES if num_images is None else int(num_images)
    if num < 2:
        raise UserError(f"num_images must be >= 2, got {num}")
    if truncation is not None and not truncation > 0:
        raise UserError(f"truncation must be > 0, got {truncation}")
    if G is None and not real_vs_real:
        raise UserError("evaluate needs a generator (or real_vs_real=True)")
    fp = None if features_path is None else str(features_path)
    iw = None if inception_weights is None else str(inception_weights)
    _check_features_available(names, fp, iw)
    dev = torch.device(device)
    res = cast(int, G.output_resolution) if G is not None and not real_vs_real else None
    if res is None:
        res = datasets.open_dataset(data_dir).resolution
    reals_set = open_reals(str(data_dir), res)
    if G is not None and not real_vs_real and cast(int, G.channels) != reals_set.dataset.channels:
        raise UserError(f"the generator makes {G.channels}-channel images, the data set has "
                        f"{reals_set.dataset.channels}; pass the data set it was trained on")
    if real_vs_real:
        reals, real_labels = reals_set.select(num, seed, part=0)
        fakes, fake_labels = reals_set.select(num, seed, part=1)
        selection: dict[str, object] = {"num": num, "seed": seed, "part": 0}
    else:
        reals, real_labels = reals_set.select(num, seed)
        selection = {"num": num, "seed": seed}
        assert G is not None
        imgs, fake_labels = generate_samples(G, num, seed=seed, device=dev, batch_size=batch_size,
                                            truncation=truncation, label_pool=reals_set.dataset.labels,
                                            rank=rank, world_size=world_size)
        if imgs is None:
            return {}
        fakes = ImageSource(imgs)
    if rank != 0:
        return {}
    ctx = EvalContext(reals, fakes, real_labels, fake_labels, reals_set, selection, seed, dev, batch_size,
                      fp, iw, None if cache_dir is None else str(cache_dir))
    return {name: METRICS[name](ctx) for name in names}
