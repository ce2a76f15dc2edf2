"""Conditioning options of the progressive networks (issue 6): conditional BN with a shared embedding and
hierarchical latents in G, a projection head on D, spectral norm, self-attention, orthogonal init."""

from __future__ import annotations

import copy

import pytest
import torch
from biggan_threads import one_thread  # noqa: F401  (autouse)

from progan.config import LossConfig, NetworkConfig
from progan.errors import UserError
from progan.losses import orthogonal_regularization
from progan.networks import Discriminator, Generator
from progan.nn.attention import WithAttention
from progan.nn.condnorm import CondBatchNorm2d
from progan.nn.spectral import max_singular_value
from progan.training.stats import Collector
from progan.training.steps import StepContext, d_step


def _cfg(**kw) -> NetworkConfig:
    base = {"resolution": 16, "channels": 1, "num_classes": 3, "conditioning": "projection", "g_norm": "cbn",
            "hierarchical_z": True, "latent_size": 20, "equalized_lr": False, "spectral_norm": "both",
            "ortho_init": True, "attention": [8], "fmap_base": 128, "fmap_max": 16, "shared_dim": 8,
            "normalize_latents": False}
    return NetworkConfig(**(base | kw))


def test_cbn_generator_grows_and_conditions_every_block_on_class_and_its_latent_chunk() -> None:
    torch.manual_seed(0)
    cfg = _cfg()  # 16 px: 3 blocks (4, 8, 16) + the input layer = 4 chunks of 5
    G = Generator(cfg)
    assert cfg.num_z_chunks == 4 and G.conditioner.chunk == 5
    norms = [m for m in G.modules() if isinstance(m, CondBatchNorm2d)]
    assert len(norms) == 2 + 2 + 2 and all(m.cond_dim == 8 + 5 for m in norms)   # no pixel norm left
    y = torch.tensor([0, 1, 2, 0])
    for lod in (2.0, 1.5, 1.0, 0.0):
        x = G(torch.randn(4, 20), y, lod=lod)
        assert x.shape == (4, 1, 16 >> int(lod), 16 >> int(lod)) and torch.isfinite(x).all()
    G.eval()
    z = torch.randn(2, 20)
    same = G(z, torch.tensor([1, 1]))
    assert not torch.allclose(same, G(z, torch.tensor([2, 2])))       # the class matters
    z2 = z.clone()
    z2[:, 15:] += 1.0  # the last chunk feeds the 16x16 block only
    torch.testing.assert_close(G(z2, torch.tensor([1, 1]), lod=1.0), G(z, torch.tensor([1, 1]), lod=1.0))
    assert not torch.allclose(G(z2, torch.tensor([1, 1])), same)
    with pytest.raises(ValueError, match="pass labels"):
        G(z)


def test_projection_d_score_is_linear_term_plus_inner_product() -> None:
    torch.manual_seed(0)
    D = Discriminator(_cfg(spectral_norm="none", attention=[])).eval()
    x, y = torch.randn(4, 1, 16, 16), torch.tensor([2, 0, 1, 2])
    h = D.from_rgb[2](x)
    h = D.blocks[1](D.blocks[2](h))
    h = D.blocks[0].features(h)
    dense1 = D.blocks[0].dense1
    expected = (h @ dense1.effective_weight().T + dense1.bias)[:, 0] + (D.projection.weight[y] * h).sum(1)
    scores, logits = D(x, y, lod=0.0)
    assert logits is None
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)


def test_spectral_norm_attention_and_orthogonal_init_on_the_progressive_nets() -> None:
    torch.manual_seed(0)
    cfg = _cfg()
    D = Discriminator(cfg)
    assert isinstance(D.blocks[1], WithAttention) and D.blocks[1].attention.gamma.item() == 0.0
    x, y = torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 0])
    conv = D.blocks[2].conv0.conv
    stored = conv.parametrizations.weight.original
    with torch.no_grad():
        stored.add_(torch.randn_like(stored)).mul_(3.0)
    for _ in range(30):
        D(x, y, lod=0.0)
    assert max_singular_value(conv.weight) == pytest.approx(1.0, abs=5e-3)
    assert max_singular_value(stored) > 3.0  # the stored weight itself is not normalised
    G = Generator(_cfg(spectral_norm="none"))
    w = G.blocks[1].block.conv0.conv.weight.detach().flatten(1)   # 16 filters of 144 weights, orthogonal init
    torch.testing.assert_close(w @ w.T, torch.eye(16), atol=1e-5, rtol=0)
    # The orthogonal regulariser skips the shared embedding but sees the conditional-BN projections.
    emb = G.conditioner.shared.weight
    reg = orthogonal_regularization(G, 1.0)
    reg.backward()
    assert emb.grad is None and G.blocks[0].cbn.gain.weight.grad is not None


def test_unconditional_pixel_norm_path_is_unchanged() -> None:
    cfg = NetworkConfig(resolution=16, channels=1, latent_size=16, fmap_base=64, fmap_max=16)
    G = Generator(cfg)
    assert G.conditioner is None and not any(isinstance(m, CondBatchNorm2d) for m in G.modules())
    assert G(torch.randn(2, 16), lod=0.0).shape == (2, 1, 16, 16)


@pytest.mark.parametrize("kw, message", [
    ({"equalized_lr": True}, "set network.equalized_lr=false"),
    ({"g_norm": "pixel"}, "hierarchical_z needs conditional BN"),
    ({"latent_size": 21}, "multiple of 4"),
    ({"conditioning": "aux"}, "conditioning must be"),
])
def test_config_errors(kw, message) -> None:
    with pytest.raises(UserError, match=message):
        _cfg(**kw).validate()


def test_projection_d_accumulation_over_micro_batches_matches_one_batch() -> None:
    """WGAN-GP on a projection D with labels (no SN, no BN in D; G's one-hot conditioning, pixel norm)."""
    torch.manual_seed(0)
    cfg = _cfg(g_norm="pixel", hierarchical_z=False, spectral_norm="none", attention=[], mbstd_group_size=2)
    G, D0 = Generator(cfg), Discriminator(cfg)
    reals, z = torch.randn(8, 1, 16, 16), torch.randn(8, 20)
    labels, mix = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]), torch.rand(8)
    grads = []
    for micro in (0, 4):
        D = copy.deepcopy(D0)
        d_step(G, D, torch.optim.SGD(D.parameters(), lr=0.0), LossConfig(), reals, labels, z, Collector(None),
               StepContext(torch.device("cpu"), micro_batch=micro), mix)
        grads.append([p.grad.clone() for p in D.parameters() if p.grad is not None])  # unused fromRGB: None
    assert len(grads[0]) == len(grads[1]) > 10
    scale = max(float(a.abs().max()) for a in grads[0])  # float32 rounding, relative to the largest gradient
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * scale)


def test_normalize_latents_pixel_normalises_z_before_the_split() -> None:
    from progan.networks.conditioning import LatentConditioner

    z = torch.randn(3, 20) * 5
    plain = LatentConditioner(_cfg(num_classes=0, conditioning="none"), 3, 0)
    normed = LatentConditioner(_cfg(num_classes=0, conditioning="none", normalize_latents=True), 3, 0)
    z0, ys = plain(z, None)
    torch.testing.assert_close(torch.cat([z0, *ys], dim=1), z)
    z0, ys = normed(z, None)
    torch.testing.assert_close(torch.cat([z0, *ys], dim=1), z / z.square().mean(dim=1, keepdim=True).sqrt())
