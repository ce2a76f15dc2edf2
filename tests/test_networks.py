"""Progressive G and D: parameter counts vs the paper / TF release, shapes at every lod, fade-in
continuity, ablation switches, conditioning."""

from __future__ import annotations

import math

import pytest
import torch

from progan.config import NetworkConfig
from progan.networks import Discriminator, Generator
from progan.nn import downsample2d, pixel_norm, upsample2d


def small(**kw) -> NetworkConfig:
    base = {"resolution": 32, "channels": 3, "latent_size": 16, "fmap_base": 128, "fmap_max": 16}
    return NetworkConfig(**(base | kw))


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def tf_release_counts(cfg: NetworkConfig) -> tuple[int, int]:
    """Trainable parameters of the TF release's G_paper / D_paper (non-fused: same weight shapes)."""
    nf, c, k = cfg.nf, cfg.channels, (cfg.num_classes if cfg.conditioning == "acgan" else 0)

    def conv(cin: int, cout: int, ks: int = 3) -> int:
        return cin * cout * ks * ks + cout
    top = cfg.resolution_log2
    g = (cfg.latent_size + k) * nf(1) * 16 + nf(1) + conv(nf(1), nf(1))
    g += sum(conv(nf(r - 2), nf(r - 1)) + conv(nf(r - 1), nf(r - 1)) for r in range(3, top + 1))
    g += sum(conv(nf(r - 1), c, 1) for r in range(2, top + 1))
    mbstd = cfg.mbstd_num_features if cfg.mbstd_group_size > 1 else 0
    d = conv(nf(1) + mbstd, nf(1)) + nf(1) * 16 * nf(0) + nf(0) + nf(0) * (1 + k) + 1 + k
    d += sum(conv(nf(r - 1), nf(r - 1)) + conv(nf(r - 1), nf(r - 2)) for r in range(3, top + 1))
    d += sum(conv(c, nf(r - 1), 1) for r in range(2, top + 1))
    return g, d


def test_parameter_counts_match_paper_at_1024() -> None:
    cfg = NetworkConfig(resolution=1024, channels=3)
    g, d = count(Generator(cfg)), count(Discriminator(cfg))
    # Exact counts of the TF release's networks (its printed D summary reads "Total 23087249").
    assert (g, d) == (23_079_115, 23_087_249)
    assert (g, d) == tf_release_counts(cfg)
    # Paper, Table 2: "23.1M" trainable parameters for each network.
    assert round(g / 1e6, 1) == 23.1 and round(d / 1e6, 1) == 23.1


@pytest.mark.parametrize("cfg", [
    NetworkConfig(resolution=32, channels=3, latent_size=128, fmap_base=4096, fmap_max=128,
                  num_classes=10, conditioning="acgan"),                      # paper CIFAR-10 config
    NetworkConfig(resolution=128, channels=3, fmap_base=2048),               # Table 1 ablation nets
    NetworkConfig(resolution=8, channels=1, mbstd_group_size=0),
    NetworkConfig(resolution=16, channels=5, mbstd_group_size=1, latent_size=64),
    NetworkConfig(resolution=4, channels=2, mbstd_num_features=4),
])
def test_parameter_counts_match_tf_formula(cfg: NetworkConfig) -> None:
    assert (count(Generator(cfg)), count(Discriminator(cfg))) == tf_release_counts(cfg)


@pytest.mark.parametrize("resolution, channels", [(4, 1), (8, 3), (32, 1), (64, 3), (16, 5)])
def test_shapes_at_every_lod(resolution: int, channels: int) -> None:
    cfg = small(resolution=resolution, channels=channels, num_classes=3, conditioning="acgan")
    G, D = Generator(cfg), Discriminator(cfg)
    max_lod = int(math.log2(resolution)) - 2
    assert G.max_lod == max_lod
    assert (G.z_dim, G.num_classes, G.resolution, G.channels) == (16, 3, resolution, channels)
    z, labels = torch.randn(4, 16), torch.tensor([0, 1, 2, 1])
    for lod in [i / 4 for i in range(4 * max_lod + 1)]:
        r = resolution >> math.floor(lod)
        G.lod = D.lod = lod
        assert G.output_resolution == D.output_resolution == r
        x = G(z, labels)
        assert x.shape == (4, channels, r, r)
        scores, logits = D(x, labels)
        assert scores.shape == (4,) and logits is not None and logits.shape == (4, 3)
        assert torch.equal(G(z, labels, lod=lod), x)   # explicit lod == attribute


def test_lod_out_of_range_or_wrong_image_size_raises() -> None:
    G, D = Generator(small()), Discriminator(small())
    assert G.lod == 0.0 and G.output_resolution == 32
    z = torch.randn(2, 16)
    for bad in (-0.01, 3.01, float("nan"), 7.0):
        with pytest.raises(ValueError, match="lod must be in"):
            G(z, lod=bad)
        with pytest.raises(ValueError, match="lod must be in"):
            D(torch.zeros(2, 3, 4, 4), lod=bad)
    with pytest.raises(ValueError, match=r"images must have shape \[N, 3, 16, 16\]"):
        D(torch.zeros(2, 3, 32, 32), lod=1.0)
    with pytest.raises(ValueError, match="latents"):
        G(torch.zeros(2, 15))


def test_generator_fade_is_linear_blend_of_neighbouring_levels() -> None:
    torch.manual_seed(0)
    G = Generator(small())
    z = torch.randn(4, 16)
    for k in range(3):                     # fading in resolution 32 >> k from 32 >> (k + 1)
        new, old = G(z, lod=k), upsample2d(G(z, lod=k + 1))
        for t in (0.25, 0.5, 0.999999):    # lod = k + t  ->  alpha = 1 - t
            torch.testing.assert_close(G(z, lod=k + t), torch.lerp(new, old, t), rtol=1e-5, atol=1e-5)
        # Continuity at the start of the fade: alpha -> 0 equals the previous level upsampled.
        torch.testing.assert_close(G(z, lod=k + 1 - 1e-7), old, rtol=1e-5, atol=1e-5)


def test_discriminator_fade_continuity_at_both_ends() -> None:
    torch.manual_seed(1)
    D = Discriminator(small(num_classes=4, conditioning="acgan"))
    for k in range(3):
        img = torch.randn(8, 3, 32 >> k, 32 >> k)
        # alpha -> 0: D sees only the average-pooled image through the previous level's fromRGB.
        s0, l0 = D(img, lod=k + 1 - 1e-7)
        s1, l1 = D(downsample2d(img), lod=k + 1)
        torch.testing.assert_close(s0, s1, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(l0, l1, rtol=1e-5, atol=1e-5)
        # alpha -> 1: the new level alone.
        torch.testing.assert_close(D(img, lod=k + 1e-7)[0], D(img, lod=k)[0], rtol=1e-5, atol=1e-5)
        # In between, a real blend: neither end.
        mid = D(img, lod=k + 0.5)[0]
        assert not torch.allclose(mid, s1) and not torch.allclose(mid, D(img, lod=k)[0])


def test_only_active_blocks_run() -> None:
    G, D = Generator(small()), Discriminator(small())
    ran: list[str] = []

    def record(tag: str):
        return lambda module, args, out: ran.append(tag)

    for net in (G, D):
        for name, mod in net.named_children():
            if isinstance(mod, torch.nn.ModuleList):
                for i, sub in enumerate(mod):
                    sub.register_forward_hook(record(f"{type(net).__name__[0]}.{name}.{i}"))
    img = G(torch.randn(4, 16), lod=1.5)       # 16x16, fading in from 8x8
    assert sorted(ran) == ["G.blocks.0", "G.blocks.1", "G.blocks.2", "G.to_rgb.1", "G.to_rgb.2"]
    ran.clear()
    D(img, lod=1.5)
    assert sorted(ran) == ["D.blocks.0", "D.blocks.1", "D.blocks.2", "D.from_rgb.1", "D.from_rgb.2"]
    ran.clear()
    G(torch.randn(4, 16), lod=2.0)             # 8x8 stable: no old toRGB
    assert sorted(ran) == ["G.blocks.0", "G.blocks.1", "G.to_rgb.1"]


def _conv_outputs(G: Generator, z: torch.Tensor) -> list[torch.Tensor]:
    outs: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, a, o: outs.append(o))
             for m in G.modules() if type(m).__name__ == "_ConvAct"]
    G(z)
    for h in hooks:
        h.remove()
    return outs


def test_pixelnorm_switch() -> None:
    torch.manual_seed(2)
    z = torch.randn(2, 16)
    outs = _conv_outputs(Generator(small(resolution=16)), z)
    assert len(outs) == 5                                    # 4x4 conv + 2 per block at 8 and 16
    for o in outs:
        torch.testing.assert_close(o.square().mean(dim=1), torch.ones_like(o[:, 0]), rtol=1e-4, atol=1e-4)
    for o in _conv_outputs(Generator(small(resolution=16, pixelnorm=False)), z):
        assert (o.square().mean(dim=1) - 1).abs().max() > 0.1


def test_equalized_lr_switch_applies_to_every_layer() -> None:
    for net in (Generator(small(equalized_lr=False)), Discriminator(small(equalized_lr=False))):
        layers = [m for m in net.modules() if hasattr(m, "effective_weight")]
        assert layers and all(m.scale == 1.0 for m in layers)
    G = Generator(small())
    assert G.blocks[0].dense.scale == pytest.approx(math.sqrt(2) / 4 / math.sqrt(16))
    assert all(m.scale == pytest.approx(1 / math.sqrt(m.fan_in)) for m in G.to_rgb)   # toRGB: gain 1
    D = Discriminator(small())
    assert D.blocks[0].dense1.scale == pytest.approx(1 / math.sqrt(16))            # D's last dense: gain 1
    assert D.blocks[0].conv.conv.weight.shape[1] == 17                             # + 1 mbstd map


def test_latent_normalization_makes_g_scale_invariant() -> None:
    torch.manual_seed(3)
    z = torch.randn(3, 16)
    G = Generator(small())
    torch.testing.assert_close(G(z), G(5 * z), rtol=1e-5, atol=1e-5)
    G2 = Generator(small(normalize_latents=False))
    assert not torch.allclose(G2(z), G2(5 * z))


def test_acgan_generator_labels_as_indices_or_onehot() -> None:
    torch.manual_seed(4)
    G = Generator(small(num_classes=5, conditioning="acgan"))
    z, labels = torch.randn(4, 16), torch.tensor([0, 4, 2, 2])
    onehot = torch.nn.functional.one_hot(labels, 5).float()
    torch.testing.assert_close(G(z, labels), G(z, onehot))
    assert not torch.allclose(G(z, labels), G(z, labels.flip(0)))
    # TF release: the one-hot is appended to z and the pair pixel-normalized together.
    assert G.blocks[0].dense.fan_in == 21
    with pytest.raises(ValueError, match="pass labels"):
        G(z)
    uncond = Generator(small(num_classes=5))          # labels present in data, conditioning off
    assert uncond.num_classes == 0
    assert Discriminator(small(num_classes=5))(torch.zeros(4, 3, 32, 32))[1] is None


def test_first_block_follows_tf_order() -> None:
    # dense (gain sqrt(2)/4, no bias) -> reshape -> + per-map bias -> lrelu -> PN -> conv.
    torch.manual_seed(5)
    G = Generator(small(resolution=4))
    with torch.no_grad():
        G.blocks[0].bias.normal_()
    z = torch.randn(2, 16)
    block = G.blocks[0]
    x = pixel_norm(z) @ (block.dense.weight * (math.sqrt(2) / 4 / 4)).t()
    x = torch.nn.functional.leaky_relu(x.view(2, 16, 4, 4) + block.bias.view(1, -1, 1, 1), 0.2)
    x = block.conv(pixel_norm(x))
    torch.testing.assert_close(G(z), G.to_rgb[0](x))


def test_networks_run_under_bfloat16_autocast() -> None:
    torch.manual_seed(6)
    G, D = Generator(small(resolution=8)), Discriminator(small(resolution=8))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = G(torch.randn(4, 16), lod=0.5)
        scores, _ = D(x, lod=0.5)
    assert x.dtype == scores.dtype == torch.bfloat16
    assert torch.isfinite(x.float()).all() and torch.isfinite(scores.float()).all()


@pytest.mark.slow
def test_discriminator_double_backward_is_exact() -> None:
    # The gradient penalty differentiates D's input gradient; the in-place activations must keep
    # first and second derivatives exact (checked against finite differences in float64).
    torch.manual_seed(7)
    D = Discriminator(NetworkConfig(resolution=8, channels=1, latent_size=8, fmap_base=16, fmap_max=4,
                                    mbstd_group_size=2)).double()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)

    def f(img: torch.Tensor) -> torch.Tensor:
        return D(img, lod=0.4)[0]
    assert torch.autograd.gradcheck(f, (x,), fast_mode=True)
    assert torch.autograd.gradgradcheck(f, (x,), fast_mode=True)


@pytest.mark.parametrize("fused", [True, False])
def test_discriminator_block_order_follows_fused_scale(fused: bool) -> None:
    # TF release D_paper: fused_scale=True is conv -> 2x2 average -> bias -> lrelu (Conv1_down);
    # fused_scale=False is conv -> bias -> lrelu -> average (Conv1 + downscale2d), as the paper's Table 2.
    torch.manual_seed(8)
    D = Discriminator(small(resolution=8, fused_scale=fused))
    with torch.no_grad():
        for p in D.parameters():
            p.normal_()
    block = D.blocks[1]
    x = torch.randn(2, 16, 8, 8)
    h = torch.nn.functional.leaky_relu(block.conv0.conv(x), 0.2)
    w1 = block.conv1.conv.weight * math.sqrt(2) / math.sqrt(16 * 9)     # He gain sqrt(2), fan-in 16*3*3
    y = torch.nn.functional.conv2d(h, w1, padding=1)
    b = block.conv1.conv.bias.view(1, -1, 1, 1)

    def lrelu(t: torch.Tensor) -> torch.Tensor:
        return torch.where(t > 0, t, 0.2 * t)

    def pooled(t: torch.Tensor) -> torch.Tensor:
        return (t[..., ::2, ::2] + t[..., 1::2, ::2] + t[..., ::2, 1::2] + t[..., 1::2, 1::2]) / 4
    expected = lrelu(pooled(y) + b) if fused else pooled(lrelu(y + b))
    other = pooled(lrelu(y + b)) if fused else lrelu(pooled(y) + b)
    out = block(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert (out - other).abs().max() > 1e-2          # the two orders differ for the same weights
    # Same parameters under both orders: a snapshot loads into either.
    other_order = Discriminator(small(resolution=8, fused_scale=not fused))
    assert D.state_dict().keys() == other_order.state_dict().keys()


def test_fused_scale_must_be_bool() -> None:
    from progan.errors import UserError

    with pytest.raises(UserError, match="fused_scale must be true or false"):
        small(fused_scale="no").validate()
