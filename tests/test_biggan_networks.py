"""The biggan architecture: interface shared with the progressive nets, hierarchical latents, projection D,
configuration errors, and gradient accumulation equal to one big batch."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from biggan_threads import one_thread  # noqa: F401  (autouse)

from progan.config import LossConfig, NetworkConfig, TrainConfig
from progan.errors import UserError
from progan.networks import biggan, build_discriminator, build_generator
from progan.presets import get_preset
from progan.training.stats import Collector
from progan.training.steps import StepContext, d_step


def _cfg(**kw) -> NetworkConfig:
    base = {"architecture": "biggan", "resolution": 16, "channels": 1, "num_classes": 3,
            "conditioning": "projection", "latent_size": 24, "hierarchical_z": True, "spectral_norm": "both",
            "ortho_init": True, "biggan_ch": 4, "shared_dim": 8, "attention": [8], "normalize_latents": False}
    return NetworkConfig(**(base | kw))


@pytest.mark.parametrize("res", [16, 32, 64])
def test_shapes_range_and_progan_interface(res: int) -> None:
    torch.manual_seed(0)
    cfg = _cfg(resolution=res, channels=3, latent_size=60, attention=[min(res // 2, 16)])
    G, D = build_generator(cfg), build_discriminator(cfg)
    assert isinstance(G, biggan.Generator) and isinstance(D, biggan.Discriminator)
    assert ((G.z_dim, G.num_classes, G.resolution, G.channels, G.lod, G.output_resolution)
            == (60, 3, res, 3, 0.0, res))
    y = torch.tensor([0, 1, 2, 1])
    x = G(torch.randn(4, 60), y)
    assert x.shape == (4, 3, res, res) and x.abs().max() <= 1.0
    scores, logits = D(x, y)
    assert scores.shape == (4,) and logits is None and torch.isfinite(scores).all()
    # Block widths follow the architecture table.
    widths = biggan.G_WIDTHS[res]
    assert ([b.conv1.weight.shape[:2] for b in G.blocks]
            == [(4 * o, 4 * i) for i, o in itertools.pairwise(widths)])
    d_res = [b.resolution for b in biggan.discriminator_arch(res, 3, 4)]
    assert d_res == {16: [8, 4, 4], 32: [16, 8, 8, 8], 64: [32, 16, 8, 4, 4]}[res]  # BigGAN-PyTorch's D_arch


def test_lod_other_than_zero_and_missing_labels_are_errors() -> None:
    G, D = build_generator(_cfg()), build_discriminator(_cfg())
    z, y = torch.randn(2, 24), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="does not grow"):
        G(z, y, lod=1.0)
    with pytest.raises(ValueError, match="pass labels"):
        G(z)
    with pytest.raises(ValueError, match="pass labels"):
        D(torch.zeros(2, 1, 16, 16))
    G(z, y, lod=0)  # the loop passes lod 0 / None


def test_hierarchical_latent_chunks_feed_the_input_layer_and_one_block_each() -> None:
    torch.manual_seed(0)
    cfg = _cfg()  # 16 px: linear + 2 up-blocks = 3 chunks of 8
    G = build_generator(cfg).eval()
    assert cfg.num_z_chunks == 3 and G.conditioner.chunk == 8
    assert G.linear.weight.shape[1] == 8
    assert G.blocks[0].bn1.gain.weight.shape[1] == cfg.shared_dim + 8
    y = torch.tensor([0, 2])
    z = torch.randn(2, 24)
    seen: dict[int, torch.Tensor] = {}
    for i, block in enumerate(G.blocks):
        block.bn1.register_forward_hook(lambda m, a, out, i=i: seen.__setitem__(i, a[1]))
    G(z, y)
    emb = G.conditioner.shared(y)
    for i in range(2):
        torch.testing.assert_close(seen[i], torch.cat([emb, z[:, 8 * (i + 1):8 * (i + 2)]], dim=1))


def test_soft_label_rows_mix_class_embeddings() -> None:
    torch.manual_seed(0)
    G = build_generator(_cfg()).eval()
    z = torch.randn(2, 24)
    onehot = torch.eye(3)[[2, 0]]
    torch.testing.assert_close(G(z, onehot), G(z, torch.tensor([2, 0])))


def test_projection_d_score_is_linear_term_plus_inner_product() -> None:
    torch.manual_seed(0)
    D = build_discriminator(_cfg()).eval()
    x, y = torch.randn(5, 1, 16, 16), torch.tensor([0, 1, 2, 2, 1])
    h = x
    for block in D.blocks:
        h = block(h)
    h = torch.relu(h).sum(dim=(2, 3))
    head = D.head
    expected = (h @ head.linear.weight.T + head.linear.bias)[:, 0] + (head.embed.weight[y] * h).sum(1)
    torch.testing.assert_close(D(x, y)[0], expected, rtol=1e-5, atol=1e-5)


def test_acgan_head_and_unconditional_nets() -> None:
    D = build_discriminator(_cfg(conditioning="acgan"))
    s, logits = D(torch.randn(2, 1, 16, 16))
    assert s.shape == (2,) and logits.shape == (2, 3)
    G = build_generator(_cfg(conditioning="none", num_classes=0, hierarchical_z=False))
    assert G.num_classes == 0 and G.conditioner.shared is None
    assert G(torch.randn(2, 24)).shape == (2, 1, 16, 16)


@pytest.mark.parametrize("kw, message", [
    ({"architecture": "progan", "spectral_norm": "d"}, "set network.equalized_lr=false"),
    ({"architecture": "progan", "ortho_init": True, "spectral_norm": "none", "hierarchical_z": False},
     "ortho_init needs"),
    ({"latent_size": 25}, "multiple of 3"),
    ({"resolution": 8}, "16, 32, 64, 128 or 256"),
    ({"attention": [12]}, "attention resolutions"),
    ({"g_norm": "pixel"}, "normalises G with cbn"),
    ({"spectral_norm": "yes"}, "spectral_norm must be"),
    ({"resolution": 64, "latent_size": 60, "attention": [32]}, "needs a multiple of 8 channels"),
])
def test_config_errors_are_one_line(kw, message) -> None:
    with pytest.raises(UserError, match=message):
        cfg = _cfg(**kw)
        cfg.validate()
        build_discriminator(cfg)


def test_biggan_refuses_a_growing_schedule() -> None:
    cfg = TrainConfig(network=_cfg())
    with pytest.raises(UserError, match="does not grow"):
        cfg.validate()
    for name in ("biggan-cifar10", "biggan-fashion-mnist"):
        get_preset(name).validate()


@pytest.mark.parametrize("micro", [2, 4])
def test_d_gradient_accumulation_matches_one_big_batch(micro: int) -> None:
    """Projection D with SN (no batch-dependent layer), fakes from an eval-mode G (running BN statistics).

    D is in eval mode so spectral norm reuses one estimate of sigma (in train mode the step holds it to
    one power iteration per step whatever the split: tests/test_batch_coupling.py).
    """
    torch.manual_seed(0)
    cfg = _cfg()
    G = build_generator(cfg).eval()
    D0 = build_discriminator(cfg).eval()
    reals, labels, z = torch.randn(8, 1, 16, 16), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]), torch.randn(8, 24)
    grads = []
    for mb in (0, micro):
        D = copy.deepcopy(D0)
        opt = torch.optim.SGD(D.parameters(), lr=0.0)
        d_step(G, D, opt, LossConfig(kind="hinge"), reals, labels, z, Collector(None),
               StepContext(torch.device("cpu"), micro_batch=mb))
        grads.append([p.grad.clone() for p in D.parameters()])
    for a, b in zip(*grads):
        # Float32 summation order differs between the two splits: agreement to rounding.
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * float(a.abs().max()))
