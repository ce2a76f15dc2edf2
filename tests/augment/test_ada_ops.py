"""ADA's operations: identities at p=0 (bit for bit), direct formulas at p=1, differentiability."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from progan.augment import geometry as geo
from progan.augment.ada import AdaParams, AdaPipeline
from progan.augment.color import BAND_POWER, band_gains, filter_bank
from progan.augment_names import ADA_GROUPS, ADA_OPS, parse_pipeline


def _images(n: int, c: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, c, size, size, generator=g) * 2 - 1


def _run(ops: str, x: torch.Tensor, p: float, seed: int = 1) -> tuple[torch.Tensor, AdaParams]:
    pipe = AdaPipeline(ops)
    params = pipe.sample(x.shape[0], tuple(x.shape[1:]), p, torch.Generator().manual_seed(seed))
    return pipe.apply(x, params), params


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("ops", list(ADA_OPS) + ["bgcfnc"])
def test_every_operation_at_p0_is_the_identity_bit_for_bit(ops: str, channels: int) -> None:
    x = _images(8, channels)
    out, _ = _run(ops, x, 0.0)
    assert out.dtype == x.dtype and torch.equal(out, x)


def test_groups_and_order_follow_the_paper() -> None:
    assert parse_pipeline("bgc") == ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac",
                                     "brightness", "contrast", "lumaflip", "hue", "saturation")
    assert parse_pipeline("cutout,xflip,color") == ("xflip", "brightness", "contrast", "lumaflip", "hue",
                                                    "saturation", "cutout")
    assert set(ADA_GROUPS["bgcfnc"]) == set(ADA_OPS)


def _rot90_k(G: torch.Tensor) -> int:
    # G_inv maps output to input coordinates (x right, y down): [[0, -1], [1, 0]] reads input (-y, x), which
    # is torch.rot90 with k=1 (a quarter turn from the first image axis towards the second).
    table = {(1, 0): 0, (0, 1): 1, (-1, 0): 2, (0, -1): 3}
    return table[(round(G[0, 0].item()), round(G[1, 0].item()))]


def test_rotate90_at_p1_is_torch_rot90_with_the_drawn_quarter_turns() -> None:
    x = _images(64, 3)
    x[:, :, 0, :3] = 5.0  # asymmetric marker
    out, prm = _run("rotate90", x, 1.0)
    ks = [_rot90_k(G) for G in prm.G_inv]
    assert set(ks) == {0, 1, 2, 3}  # k = 0 is one of the four drawn outcomes, as in ADA
    for i, k in enumerate(ks):
        assert torch.equal(out[i], torch.rot90(x[i], k, dims=(-2, -1))), (i, k)


def test_xflip_at_p1_is_a_mirror_or_nothing() -> None:
    x = _images(32, 1)
    out, prm = _run("xflip", x, 1.0)
    flips = prm.G_inv[:, 0, 0] == -1
    assert 0 < int(flips.sum()) < 32
    for i in range(32):
        assert torch.equal(out[i], x[i].flip(-1) if flips[i] else x[i])


def test_integer_translation_at_p1_shifts_with_reflection() -> None:
    size = 16
    x = _images(32, 3, size)
    out, prm = _run("xint", x, 1.0)
    tx, ty = prm.G_inv[:, 0, 2], prm.G_inv[:, 1, 2]
    assert (tx.abs() <= round(0.125 * size)).all() and (ty.abs() <= round(0.125 * size)).all()
    assert (tx != 0).any() and (ty != 0).any()
    pad = 3
    padded = F.pad(x, (pad, pad, pad, pad), mode="reflect")
    for i in range(32):
        dx, dy = int(tx[i]), int(ty[i])  # output pixel (r, c) shows input (r + dy, c + dx)
        expected = padded[i, :, pad + dy:pad + dy + size, pad + dx:pad + dx + size]
        assert torch.equal(out[i], expected), (i, dx, dy)


def test_brightness_and_contrast_at_p1_are_shift_and_scale() -> None:
    x = _images(32, 3)
    out, prm = _run("brightness", x, 1.0)
    b = prm.C[:, 0, 3].float()
    assert b.std() > 0.1  # N(0, 0.2)
    torch.testing.assert_close(out, x + b[:, None, None, None])
    out, prm = _run("contrast", x, 1.0)
    c = prm.C[:, 0, 0].float()
    assert (c > 0).all() and c.log2().std() > 0.3  # log-normal, log2 std 0.5
    torch.testing.assert_close(out, x * c[:, None, None, None])


@pytest.mark.parametrize("channels", [1, 3])
def test_luma_flip_at_p1_mirrors_the_luma(channels: int) -> None:
    x = _images(32, channels)
    out, prm = _run("lumaflip", x, 1.0)
    flipped = (prm.C[:, 0, 0] != 1).tolist()
    assert any(flipped) and not all(flipped)
    mean = x.mean(dim=1, keepdim=True)
    expected = x - 2 * mean  # I - 2 v v^T with v = (1, 1, 1) / sqrt(3): the channel mean changes sign
    for i, f in enumerate(flipped):
        torch.testing.assert_close(out[i], expected[i] if f else x[i])


def test_hue_and_saturation_at_p1_act_around_the_grey_axis() -> None:
    x = _images(16, 3)
    mean = x.mean(dim=1, keepdim=True)
    out, _ = _run("hue", x, 1.0)
    # A rotation about the grey axis keeps each pixel's grey level and its distance from it.
    torch.testing.assert_close(out.mean(dim=1, keepdim=True), mean, atol=1e-5, rtol=0)
    torch.testing.assert_close((out - mean).norm(dim=1), (x - mean).norm(dim=1), atol=1e-5, rtol=0)
    assert (out - x).abs().amax() > 0.1
    out, prm = _run("saturation", x, 1.0)
    s = (prm.C[:, 0, 0] - prm.C[:, 0, 1]).float()  # v v^T + (I - v v^T) s: diagonal - off-diagonal = s
    torch.testing.assert_close(out, mean + (x - mean) * s[:, None, None, None], atol=1e-5, rtol=0)
    # Grey images have no hue or saturation: untouched.
    g = _images(4, 1)
    assert torch.equal(_run("hue,saturation", g, 1.0)[0], g)


def _blob(n: int, size: int, fn) -> torch.Tensor:
    c = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    return fn(xx, yy).expand(n, 1, size, size).clone()


def _gauss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.exp(-((x - 2.0) ** 2 + (y + 1.5) ** 2) / (2 * 2.5**2))


@pytest.mark.parametrize("ops", ["rotate", "scale", "aniso", "xfrac", "geom"])
def test_general_geometric_transforms_at_p1_resample_a_smooth_image_like_the_formula(ops: str) -> None:
    size, n = 32, 12
    img = _blob(n, size, _gauss)
    out, prm = _run(ops, img, 1.0)
    assert (prm.G_inv != torch.eye(3, dtype=torch.float64)).any(dim=(1, 2)).sum() >= n // 2
    sx, sy = geo.source_coords(prm.G_inv, size, size)
    expected = _gauss(sx - (size - 1) / 2, sy - (size - 1) / 2)
    # Only where the source lies well inside the image (outside it the image is reflected, not the blob).
    inside = (sx > 2) & (sx < size - 3) & (sy > 2) & (sy < size - 3)
    err = (out[:, 0] - expected).abs()[inside]
    assert inside.sum() > n * size * size / 4
    assert err.max() < 0.02, err.max()  # measured: ~0.011; plain bilinear on the image itself: ~0.045


def test_the_filtered_resampling_of_a_quarter_turn_agrees_with_the_exact_one() -> None:
    img = _blob(4, 32, _gauss).float()
    G = geo.rotate(torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64))
    exact = geo.blit(img, G)
    assert torch.equal(exact, torch.rot90(img, 1, dims=(-2, -1)))
    # The wavelet is only nearly symmetric: measured 5.8e-3 on this blob of peak 1.
    assert (geo.resample(img, G) - exact).abs().max() < 1e-2


def test_the_identity_through_the_filtered_resampling_returns_the_image() -> None:
    x = _images(3, 3, 16).double()
    eye = torch.eye(3, dtype=torch.float64).expand(3, 3, 3)
    assert (geo.resample(x, eye) - x).abs().max() < 1e-10  # sym6 is orthogonal: decimation inverts upsampling


def test_cutout_at_p1_zeroes_a_half_size_square_around_the_drawn_centre() -> None:
    size = 16
    x = _images(16, 1, size) + 3  # no zeros of its own
    out, prm = _run("cutout", x, 1.0)
    centres = prm.cutout_centre
    for i in range(16):
        cx, cy = centres[i].tolist()
        cols = [(c + 0.5) / size for c in range(size)]
        mask = torch.tensor([[abs(r - cy) < 0.25 and abs(c - cx) < 0.25 for c in cols] for r in cols])
        torch.testing.assert_close(out[i, 0], torch.where(mask, torch.zeros(()), x[i, 0]))


def test_noise_at_p1_adds_gaussian_noise_of_the_drawn_strength() -> None:
    x = torch.zeros(64, 3, 32, 32)
    out, prm = _run("noise", x, 1.0)
    std = out.flatten(1).std(dim=1)
    torch.testing.assert_close(std, prm.noise_std.float(), rtol=0.1, atol=1e-3)
    assert prm.noise_std.mean() == pytest.approx(0.1 * math.sqrt(2 / math.pi), rel=0.25)  # |N(0, 0.1^2)|


def test_filter_bank_splits_the_spectrum_into_bands_that_sum_to_the_identity() -> None:
    bank = torch.as_tensor(filter_bank())
    impulse = torch.zeros(bank.shape[1], dtype=torch.float64)
    impulse[bank.shape[1] // 2] = 1
    torch.testing.assert_close(bank.sum(dim=0), impulse, atol=1e-11, rtol=0)  # 17-digit wavelet taps
    torch.testing.assert_close(bank.sum(dim=1), torch.tensor([1.0, 0, 0, 0], dtype=torch.float64),
                               atol=1e-12, rtol=0)
    # Frequency responses: each band peaks in its own octave (low to high).
    freqs = torch.fft.rfft(bank, n=256).abs()
    peaks = freqs.argmax(dim=1).tolist()
    assert peaks == sorted(peaks) and peaks[0] == 0 and peaks[-1] > 64
    # One amplified band: the gains keep the expected power of a 1/f image, sum_i power_i g_i^2 = 1;
    # several: the product of the one-band normalisations (ADA's accumulation).
    power = torch.tensor(BAND_POWER, dtype=torch.float64)
    raw = torch.ones(4, 4, dtype=torch.float64) + torch.eye(4, dtype=torch.float64) * 2.0  # band i x3
    g = band_gains(raw)
    torch.testing.assert_close((power * g.square()).sum(dim=1), torch.ones(4, dtype=torch.float64))
    both = band_gains(torch.tensor([[3.0, 1.0, 1.0, 0.5]], dtype=torch.float64))
    torch.testing.assert_close(both[0], g[0] * band_gains(torch.tensor([[1.0, 1.0, 1.0, 0.5]],
                                                                      dtype=torch.float64))[0])


def test_filtering_at_p1_scales_a_constant_image_by_the_low_band_gain_once_per_axis() -> None:
    x = torch.full((8, 1, 16, 16), 0.5)
    out, prm = _run("imgfilter", x, 1.0)
    g0 = band_gains(prm.band_raw)[:, 0].float()
    assert (g0 != 1).any()
    torch.testing.assert_close(out, (0.5 * g0.square())[:, None, None, None].expand_as(out),
                               atol=1e-5, rtol=0)


def test_the_pipeline_is_differentiable() -> None:
    x = _images(2, 3, 8).double().requires_grad_(True)
    pipe = AdaPipeline("bgcfnc")
    params = pipe.sample(2, (3, 8, 8), 1.0, torch.Generator().manual_seed(3))
    assert torch.autograd.gradcheck(lambda t: pipe.apply(t, params), (x,), eps=1e-6, atol=1e-5)


def test_parameters_are_drawn_only_from_the_given_generator_and_sliced_like_the_batch() -> None:
    pipe = AdaPipeline("bgcfnc")
    torch.manual_seed(0)
    a = pipe.sample(8, (3, 16, 16), 0.7, torch.Generator().manual_seed(5))
    torch.manual_seed(1)
    b = pipe.sample(8, (3, 16, 16), 0.7, torch.Generator().manual_seed(5))
    assert torch.equal(a.G_inv, b.G_inv) and torch.equal(a.noise, b.noise)
    part = a[2:5]
    assert len(part) == 3 and torch.equal(part.C, a.C[2:5])
    x = _images(8, 3)
    # Not bit for bit: the resampling pads by the most any image of the batch needs, and grid_sample's
    # normalised coordinates round differently for different paddings (measured 1.4e-5).
    torch.testing.assert_close(pipe.apply(x[2:5], part), pipe.apply(x, a)[2:5], atol=1e-4, rtol=0)
