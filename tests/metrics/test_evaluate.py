"""evaluate(): sampling, real selection, mode restoration, labels, feature metrics and the statistics
cache."""

from __future__ import annotations

import math

import numpy as np
import pytest

from progan.errors import UserError
from progan.metrics import METRICS, evaluate
from progan.metrics.classifier import train_classifier
from progan.metrics.sources import generate_samples, sample_latents


def test_swd_msssim_on_generator_restores_mode(fake_data, tiny_g):
    data = fake_data(n=48, res=32)
    G = tiny_g(res=32)
    G.train()
    out = evaluate(G, data, ["swd", "msssim"], num_images=48, seed=1)
    assert set(out) == {"swd", "msssim"}
    assert set(out["swd"]) == {"32", "16", "avg"} and out["swd"]["avg"] > 0
    assert 0 < out["msssim"]["msssim"] < 1
    assert G.training and G.seen_training and not any(G.seen_training)  # eval inside, train mode restored
    assert evaluate(G, data, ["swd"], num_images=48, seed=1) == {"swd": out["swd"]}  # seeded


def test_reals_come_from_the_generators_level(fake_data, tiny_g):
    data = fake_data(n=40, res=32)
    G = tiny_g(res=32)
    G.output_resolution = 8  # mid-training: smaller output
    with pytest.warns(UserWarning, match="MS-SSIM needs >= 16x16"):
        out = evaluate(G, data, ["swd", "msssim"], num_images=40)
    assert set(out["swd"]) == {"8", "avg"}
    assert math.isnan(out["msssim"]["msssim"])  # documented: MS-SSIM needs >= 16 px


def test_real_vs_real_is_below_fakes(fake_data, tiny_g):
    data = fake_data(n=128, res=16)
    floor = evaluate(None, data, ["swd"], num_images=64, real_vs_real=True)["swd"]["avg"]
    fake = evaluate(tiny_g(res=16), data, ["swd"], num_images=64)["swd"]["avg"]
    assert 0 < floor < fake


def test_conditional_labels_follow_the_data_distribution(fake_data, tiny_g):
    data = fake_data(n=64, res=16, classes=3)
    from progan.data.dataset import open_dataset

    ds = open_dataset(data)
    ds.labels[:] = np.where(ds.labels == 2, 1, ds.labels)  # class 2 absent from the data
    G = tiny_g(res=16, num_classes=3)
    evaluate(G, data, ["msssim"], num_images=64)
    seen = np.concatenate([t.numpy() for t in G.seen_labels])
    assert len(seen) == 64 and set(seen) <= {0, 1} and len(set(seen)) == 2


def test_generate_images_converts_to_uint8(tiny_g):
    import torch

    G = tiny_g(res=16)
    imgs, labels = generate_samples(G, 10, seed=3, batch_size=4)
    assert imgs.dtype == np.uint8 and imgs.shape == (10, 3, 16, 16) and labels is None
    z = torch.randn(10, G.z_dim, generator=torch.Generator().manual_seed(3))
    want = (G(z[:4]) * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    np.testing.assert_array_equal(imgs[:4], want)


def test_truncated_normal_bounds():
    import torch

    z = sample_latents((2000, 8), 0.5, torch.Generator().manual_seed(0))
    assert float(z.abs().max()) <= 0.5 and float(z.std()) > 0.2


def test_feature_metrics_with_classifier_and_cache(fake_data, tiny_g, tmp_path, monkeypatch):
    data = fake_data(n=96, res=16, classes=2)
    from progan.data.dataset import open_dataset

    ds = open_dataset(data)
    clf = tmp_path / "clf.safetensors"
    train_classifier(ds.images(16), ds.labels, clf, epochs=15, batch_size=16)
    G = tiny_g(res=16, num_classes=2)
    calls = []
    import progan.metrics.registry as registry

    real_extract = registry.extract
    monkeypatch.setattr(registry, "extract", lambda *a: calls.append(1) or real_extract(*a))
    kw = dict(num_images=40, features_path=clf, cache_dir=tmp_path / "cache")
    out = evaluate(G, data, ["fid", "kid", "pr", "is", "cas"], **kw)
    assert out["fid"]["fid"] > 0 and np.isfinite(out["kid"]["kid"])
    assert 0 <= out["pr"]["precision"] <= 1 and 0 <= out["pr"]["recall"] <= 1
    assert out["is"]["is"] >= 1 and 0 <= out["cas"]["cas"] <= 1
    assert len(calls) == 2  # reals once, fakes once, shared by all metrics
    assert len(list((tmp_path / "cache").glob("reals-*.npz"))) == 1
    again = evaluate(G, data, ["fid"], **kw)
    assert len(calls) == 3  # fakes only: real features came from the cache
    assert again["fid"]["fid"] == pytest.approx(out["fid"]["fid"], rel=1e-9)
    rvr = evaluate(None, data, ["cas", "fid"], real_vs_real=True, **kw)
    assert rvr["cas"]["cas"] > 0.9 and rvr["fid"]["fid"] < out["fid"]["fid"]


def test_errors_before_any_work(fake_data, tiny_g, tmp_path, monkeypatch):
    data = fake_data(n=16, res=16)
    G = tiny_g(res=16)
    with pytest.raises(UserError, match="unknown metric"):
        evaluate(G, data, ["swd", "nope"])
    with pytest.raises(UserError, match="cas needs a classifier"):
        evaluate(G, data, ["cas"])
    with pytest.raises(UserError, match="not a prepared data set"):
        evaluate(G, tmp_path / "missing", ["swd"])
    with pytest.raises(UserError, match="3-channel images, the data set has 1"):
        evaluate(G, fake_data(n=16, c=1, res=16, name="gray"), ["swd"])
    assert set(METRICS) == {"swd", "msssim", "fid", "kid", "is", "pr", "cas"}


def test_more_samples_than_reals(fake_data, tiny_g):
    """A data set smaller than num_images: all reals are used, SWD compares equal-sized sets."""
    data = fake_data(n=20, res=16)
    out = evaluate(tiny_g(res=16), data, ["swd", "msssim"], num_images=30)
    assert out["swd"]["avg"] > 0 and 0 < out["msssim"]["msssim"] < 1
