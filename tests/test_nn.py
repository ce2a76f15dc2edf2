"""Layers of the progressive networks against the formulas of Karras et al. 2018 and the TF release."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from progan.nn import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStddev,
    downsample2d,
    fade_images,
    minibatch_stddev,
    pixel_norm,
    upsample2d,
)


@pytest.mark.parametrize(
    "layer, fan_in, gain",
    [
        (lambda eq: EqualizedConv2d(512, 256, 3, equalized=eq), 512 * 9, math.sqrt(2)),
        (lambda eq: EqualizedConv2d(64, 3, 1, gain=1.0, equalized=eq), 64, 1.0),
        (lambda eq: EqualizedLinear(512, 8192, gain=math.sqrt(2) / 4, equalized=eq, bias=False), 512,
         math.sqrt(2) / 4),
    ],
)
def test_equalized_runtime_scale_and_init(layer, fan_in: int, gain: float) -> None:
    torch.manual_seed(0)
    he_std = gain / math.sqrt(fan_in)

    eq = layer(True)
    n = eq.weight.numel()
    tol = 5 / math.sqrt(n)  # 5 standard errors of the sample mean (and ~7 of the sample std)
    assert eq.scale == pytest.approx(he_std, rel=1e-12)
    assert eq.weight.mean().item() == pytest.approx(0.0, abs=tol)
    assert eq.weight.std().item() == pytest.approx(1.0, abs=tol)            # stored weights ~ N(0, 1)
    assert torch.equal(eq.effective_weight(), eq.weight * he_std)
    assert eq.bias is None or torch.count_nonzero(eq.bias) == 0

    he = layer(False)                                                        # Table 1 ablation: He init
    assert he.scale == 1.0
    assert he.weight.std().item() == pytest.approx(he_std, rel=tol)
    assert he.effective_weight() is he.weight


def test_equalized_forward_is_conv_with_scaled_weight_and_he_variance() -> None:
    torch.manual_seed(1)
    conv = EqualizedConv2d(256, 256, 3)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(8, 256, 12, 12)
    ref = F.conv2d(x, conv.weight * (math.sqrt(2) / math.sqrt(256 * 9)), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), ref, rtol=1e-5, atol=1e-5)

    # He init keeps var(y) = fan_in * var(w_eff) * var(x) = gain^2 for unit-variance input;
    # both parameterisations must give it (interior pixels only, away from the zero padding).
    for equalized in (True, False):
        layer = EqualizedConv2d(256, 256, 3, equalized=equalized)
        y = layer(x)[:, :, 1:-1, 1:-1]
        assert y.var().item() == pytest.approx(2.0, rel=0.05)
    lin = EqualizedLinear(1024, 512, gain=1.0)
    assert lin(torch.randn(512, 1024)).var().item() == pytest.approx(1.0, rel=0.05)


def test_equalized_gradient_of_stored_weight_is_scaled() -> None:
    # The point of equalized lr: d loss / d stored w = he_std * d loss / d effective w.
    torch.manual_seed(2)
    lin = EqualizedLinear(16, 4)
    x = torch.randn(5, 16)
    lin(x).square().sum().backward()
    w_eff = lin.effective_weight().detach().requires_grad_(True)
    F.linear(x, w_eff, lin.bias.detach()).square().sum().backward()
    torch.testing.assert_close(lin.weight.grad, w_eff.grad * (math.sqrt(2) / 4))


def test_pixel_norm_unit_mean_square_over_channels() -> None:
    torch.manual_seed(3)
    x = torch.randn(4, 32, 5, 5) * torch.rand(4, 1, 5, 5) * 10
    y = pixel_norm(x)
    torch.testing.assert_close(y.square().mean(dim=1), torch.ones(4, 5, 5), rtol=1e-5, atol=1e-5)
    # Direction kept: the output is the input times a positive per-pixel factor.
    ratio = y / x
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))
    v = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(pixel_norm(v), v / math.sqrt((9 + 16) / 2 + 1e-8))
    assert torch.equal(pixel_norm(torch.zeros(2, 3, 1, 1)), torch.zeros(2, 3, 1, 1))  # eps: no NaN


def test_pixel_norm_half_precision_keeps_eps() -> None:
    x = torch.full((1, 4, 1, 1), 1e-4)
    expected = 1e-4 / math.sqrt(1e-8 + 1e-8)   # x^2 and eps both underflow in float16
    y = pixel_norm(x.half())
    assert y.dtype == torch.float16
    assert y.float().flatten()[0].item() == pytest.approx(expected, rel=1e-3)


def _group_std(values: list[float], eps: float = 1e-8) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values) + eps)


def test_minibatch_stddev_known_batch() -> None:
    # 4 samples x 2 channels x 1 pixel, groups of 2: sample i is in group i // 2 (consecutive samples).
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 7.0], [6.0, 13.0]]).view(4, 2, 1, 1)
    y = minibatch_stddev(x, group_size=2)
    assert y.shape == (4, 3, 1, 1)
    torch.testing.assert_close(y[:, :2], x)
    g0 = (_group_std([0, 2]) + _group_std([1, 3])) / 2     # = (1 + 1) / 2
    g1 = (_group_std([4, 6]) + _group_std([7, 13])) / 2    # = (1 + 3) / 2
    torch.testing.assert_close(y[:, 2].flatten(), torch.tensor([g0, g0, g1, g1]))
    assert g0 == pytest.approx(1.0) and g1 == pytest.approx(2.0)

    # group_size larger than the batch: one group of the whole batch (min(G, N) as TF).
    whole = minibatch_stddev(x, group_size=8)[:, 2].flatten()
    expected = (_group_std([0, 2, 4, 6]) + _group_std([1, 3, 7, 13])) / 2
    torch.testing.assert_close(whole, torch.full((4,), expected))


def test_minibatch_stddev_matches_loop_formula_with_feature_slices() -> None:
    torch.manual_seed(4)
    n, c, h, w, g, nf = 8, 6, 3, 3, 4, 2
    x = torch.randn(n, c, h, w, dtype=torch.float64)
    y = MinibatchStddev(group_size=g, num_features=nf)(x)
    assert y.shape == (n, c + nf, h, w)
    for i in range(n):
        members = [j for j in range(n) if j // g == i // g]
        for f in range(nf):
            chans = range(f * c // nf, (f + 1) * c // nf)
            stds = [_group_std([x[j, ch, p, q].item() for j in members]) for ch in chans
                    for p in range(h) for q in range(w)]
            assert torch.all(y[i, c + f] == y[i, c + f, 0, 0])
            assert y[i, c + f, 0, 0].item() == pytest.approx(sum(stds) / len(stds), rel=1e-12)


def test_minibatch_stddev_groups_survive_splitting_the_batch() -> None:
    # What makes micro-batch accumulation and multi-process training equal one big batch.
    x = torch.randn(16, 3, 4, 4, dtype=torch.float64)
    whole = minibatch_stddev(x, group_size=4)
    parts = torch.cat([minibatch_stddev(p, group_size=4) for p in x.split(8)])
    torch.testing.assert_close(whole, parts, rtol=0, atol=0)


def test_minibatch_stddev_rejects_indivisible_batch() -> None:
    with pytest.raises(ValueError, match="divisible"):
        minibatch_stddev(torch.zeros(6, 2, 4, 4), group_size=4)


def test_minibatch_stddev_bfloat16_computes_in_float32() -> None:
    x = torch.tensor([1.0, 1.0 + 2**-6]).view(2, 1, 1, 1)   # spread below bfloat16's 8 bits around 1
    y = minibatch_stddev(x.bfloat16(), group_size=2)
    assert y.dtype == torch.bfloat16
    assert y[0, 1].item() == pytest.approx(2**-7, rel=0.01)


def test_resampling() -> None:
    torch.manual_seed(5)
    x = torch.randn(2, 3, 4, 6)
    assert torch.equal(upsample2d(x), F.interpolate(x, scale_factor=2, mode="nearest"))
    assert torch.equal(upsample2d(x)[:, :, 3, 5], x[:, :, 1, 2])
    d = downsample2d(x)
    assert d.shape == (2, 3, 2, 3)
    torch.testing.assert_close(d[:, :, 1, 2], x[:, :, 2:4, 4:6].mean(dim=(2, 3)))
    torch.testing.assert_close(downsample2d(upsample2d(x)), x)


def test_fade_images_blends_with_low_resolution_version() -> None:
    torch.manual_seed(6)
    x = torch.randn(2, 1, 8, 8)
    low = upsample2d(downsample2d(x))
    assert fade_images(x, 1.0) is x
    torch.testing.assert_close(fade_images(x, 0.0), low)
    torch.testing.assert_close(fade_images(x, 0.25), 0.75 * low + 0.25 * x)
