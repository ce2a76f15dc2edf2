"""TF-Inception loading path (torch-fidelity's port) with a randomly initialised model saved in the same
format.

The real weights cannot be downloaded here, so numbers against torch-fidelity's reference values are not
checked; these tests pin the loading, the offline error and the feature shapes.
"""

from __future__ import annotations

import importlib.util
import urllib.request

import numpy as np
import pytest
import torch

from progan.errors import UserError
from progan.metrics.inception import ENV_WEIGHTS, InceptionV3, import_fidelity_inception, resolve_weights

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch_fidelity") is None,
                                reason="torch-fidelity not installed (pip install --no-deps torch-fidelity)")


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    module = import_fidelity_inception()
    cls = module.FeatureExtractorInceptionV3
    original_url, original_load = module.load_state_dict_from_url, cls.load_state_dict
    module.load_state_dict_from_url = lambda *a, **k: {}
    cls.load_state_dict = lambda self, sd, *a, **k: None
    try:
        torch.manual_seed(0)
        net = cls("inception-v3-compat", ["2048", "logits_unbiased"])
    finally:
        module.load_state_dict_from_url, cls.load_state_dict = original_url, original_load
    path = tmp_path_factory.mktemp("inception") / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(net.state_dict(), path)  # the same layout as the published file: a plain state dict
    return path, net


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_WEIGHTS, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))

    def no_network(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)


def test_loads_weights_file_and_extracts(random_weights, offline):
    path, reference = random_weights
    net = InceptionV3(path)
    images = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 3, 32, 32), dtype=np.uint8))
    feats, logits = net.features_and_logits(images)
    assert feats.shape == (2, 2048) and logits.shape == (2, 1008)
    want_feats, want_logits = reference(images)
    torch.testing.assert_close(feats, want_feats)
    torch.testing.assert_close(logits, want_logits)
    gray_feats, _ = net.features_and_logits(images[:, :1])
    torch.testing.assert_close(gray_feats, reference(images[:, :1].expand(-1, 3, -1, -1))[0])


def test_environment_variable_and_errors(random_weights, offline, monkeypatch, tmp_path):
    path, _ = random_weights
    with pytest.raises(UserError, match="--inception-weights FILE .*PROGAN_INCEPTION_WEIGHTS"):
        resolve_weights(None)
    monkeypatch.setenv(ENV_WEIGHTS, str(path))
    assert resolve_weights(None) == path
    with pytest.raises(UserError, match="does not exist"):
        resolve_weights(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, bad)
    with pytest.raises(UserError, match="does not match the Inception architecture"):
        InceptionV3(bad)
    pickled = tmp_path / "code.pth"
    torch.save({"x": object()}, pickled)  # not loadable with weights_only=True: refused, never executed
    with pytest.raises(UserError, match="cannot read Inception weights"):
        InceptionV3(pickled)
