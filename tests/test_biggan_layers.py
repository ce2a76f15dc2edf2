"""BigGAN layers and regularisers (Brock et al. 2019): spectral norm, orthogonal init and regularisation,
self-attention, conditional batch norm, the projection head. Reference formulas are written here."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from biggan_threads import one_thread  # noqa: F401  (autouse)
from torch import nn

from progan.losses import orthogonal_regularization
from progan.nn.attention import SelfAttention
from progan.nn.condnorm import CondBatchNorm2d
from progan.nn.projection import ProjectionHead
from progan.nn.spectral import conv2d, embedding, linear, max_singular_value, raw_weight


@pytest.mark.parametrize("make", [lambda: conv2d(8, 16, 3), lambda: linear(20, 12), lambda: conv2d(16, 4, 1)])
def test_spectral_norm_makes_the_largest_singular_value_one(make) -> None:
    torch.manual_seed(0)
    layer = make()
    with torch.no_grad():
        raw_weight(layer).mul_(7.0)  # far from 1 before normalisation
    assert max_singular_value(raw_weight(layer)) == pytest.approx(7.0, rel=1e-4)  # orthogonal init * 7
    with torch.no_grad():
        raw_weight(layer).add_(torch.randn_like(raw_weight(layer)))
    x = torch.randn(2, *( (raw_weight(layer).shape[1], 6, 6) if raw_weight(layer).dim() == 4 else (20,)))
    layer.train()
    for _ in range(50):  # one power iteration per training forward
        layer(x)
    assert max_singular_value(layer.weight) == pytest.approx(1.0, abs=2e-3)
    # Eval mode keeps the estimate instead of iterating further.
    layer.eval()
    before = layer.weight.detach().clone()
    layer(x)
    assert torch.equal(layer.weight, before)


def test_orthogonal_init_gives_orthonormal_filters() -> None:
    torch.manual_seed(0)
    w = raw_weight(conv2d(16, 32, 3, sn=False)).flatten(1)   # 32 filters of 144 weights
    torch.testing.assert_close(w @ w.T, torch.eye(32), atol=1e-5, rtol=0)
    w = raw_weight(linear(64, 16, sn=False))
    torch.testing.assert_close(w @ w.T, torch.eye(16), atol=1e-5, rtol=0)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shared = embedding(10, 6)
        self.fc = linear(6, 12)
        self.conv = conv2d(3, 5, 3, sn=False, ortho=False)
        self.scale = nn.Parameter(torch.ones(5))  # 1-D: not a weight matrix


def _reference_ortho(ws: list[torch.Tensor], beta: float) -> torch.Tensor:
    total = torch.zeros(())
    for w in ws:
        w = w.reshape(w.shape[0], -1)
        gram = w @ w.T
        total = total + (gram * (1 - torch.eye(w.shape[0]))).pow(2).sum()
    return beta * total


def test_orthogonal_regularization_equals_its_formula_and_skips_the_embedding() -> None:
    torch.manual_seed(0)
    net = _Net()
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn_like(p))
    reg = orthogonal_regularization(net, 1e-4, form="paper")
    ref = _reference_ortho([raw_weight(net.fc), net.conv.weight], 1e-4)
    torch.testing.assert_close(reg, ref, rtol=1e-5, atol=0)
    # Gradients reach the weights but never the shared embedding.
    reg.backward()
    assert net.shared.weight.grad is None and raw_weight(net.fc).grad is not None


def test_orthogonal_regularization_code_form_gives_biggan_pytorch_gradient() -> None:
    """BigGAN-PyTorch's utils.ortho adds 2*beta*(W W^T * (1 - I)) W to each gradient (W flattened to rows);
    the paper's eq. 3 differentiates to twice that."""
    torch.manual_seed(0)
    lin = nn.Linear(12, 6, bias=False)
    conv = nn.Conv2d(3, 5, 3, bias=False)
    net = nn.Sequential(lin, conv)
    beta = 1e-2
    expected = {}
    for p in (lin.weight, conv.weight):
        w = p.detach().flatten(1)
        expected[p] = (2 * beta * ((w @ w.T) * (1.0 - torch.eye(w.shape[0]))) @ w).view_as(p)
    for form, factor in (("code", 1.0), ("paper", 2.0)):
        net.zero_grad()
        orthogonal_regularization(net, beta, form=form).backward()
        for p, grad in expected.items():
            torch.testing.assert_close(p.grad, factor * grad, rtol=1e-5, atol=1e-8)


def test_orthogonal_regularization_is_zero_for_orthogonal_weights() -> None:
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(32, 32))
    lin = nn.Linear(32, 32, bias=False)
    with torch.no_grad():
        lin.weight.copy_(q * 3.0)  # orthogonal rows of any length: the diagonal is not penalised
    assert float(orthogonal_regularization(lin, 1.0).detach()) == pytest.approx(0.0, abs=1e-8)
    with torch.no_grad():
        lin.weight[0, 0] += 0.5
    assert float(orthogonal_regularization(lin, 1.0).detach()) > 1e-3


def test_self_attention_starts_as_identity_and_matches_its_formula() -> None:
    torch.manual_seed(0)
    att = SelfAttention(16, functools.partial(conv2d, sn=False))
    x = torch.randn(3, 16, 8, 8)
    assert att.gamma.item() == 0.0
    torch.testing.assert_close(att(x), x)
    with torch.no_grad():
        att.gamma.fill_(0.7)
    theta = F.conv2d(x, att.theta.weight).flatten(2)
    phi = F.max_pool2d(F.conv2d(x, att.phi.weight), 2).flatten(2)
    g = F.max_pool2d(F.conv2d(x, att.g.weight), 2).flatten(2)
    beta = torch.softmax(torch.einsum("nci,ncj->nij", theta, phi), dim=-1)
    o = torch.einsum("ncj,nij->nci", g, beta).reshape(3, 8, 8, 8)
    torch.testing.assert_close(att(x), x + 0.7 * F.conv2d(o, att.o.weight), rtol=1e-4, atol=1e-5)


def _cbn() -> CondBatchNorm2d:
    torch.manual_seed(0)
    return CondBatchNorm2d(4, 6, functools.partial(linear, sn=False, ortho=False))


def test_conditional_bn_gives_each_class_its_own_statistics() -> None:
    cbn = _cbn().train()
    x = torch.randn(16, 4, 5, 5) * 3 + 2
    shared = torch.randn(2, 6)                     # two classes' conditioning vectors
    for c in range(2):
        y = shared[c].expand(16, 6)
        out = cbn(x, y)
        mean = out.mean(dim=(0, 2, 3))
        std = out.var(dim=(0, 2, 3), unbiased=False).sqrt()
        # Batch statistics normalise x; the class then sets mean = bias(y), std = |1 + gain(y)|.
        torch.testing.assert_close(mean, cbn.bias(shared[c : c + 1])[0], atol=1e-4, rtol=0)
        torch.testing.assert_close(std, (1 + cbn.gain(shared[c : c + 1])[0]).abs(), atol=1e-3, rtol=1e-3)
    a = cbn(x, shared[0].expand(16, 6))
    b = cbn(x, shared[1].expand(16, 6))
    assert (a.mean(dim=(0, 2, 3)) - b.mean(dim=(0, 2, 3))).abs().max() > 0.05


def test_conditional_bn_uses_running_statistics_in_eval_mode() -> None:
    cbn = _cbn().train()
    x = torch.randn(8, 4, 3, 3) + 5
    y = torch.randn(8, 6)
    cbn(x, y)  # one update of the running statistics
    cbn.eval()
    bn = cbn.bn
    ref = ((x - bn.running_mean[None, :, None, None])
           / torch.sqrt(bn.running_var[None, :, None, None] + bn.eps))
    ref = ref * (1 + cbn.gain(y))[:, :, None, None] + cbn.bias(y)[:, :, None, None]
    torch.testing.assert_close(cbn(x, y), ref, atol=1e-5, rtol=1e-5)
    # Eval output of one sample does not depend on the rest of the batch.
    torch.testing.assert_close(cbn(x[:1], y[:1]), cbn(x, y)[:1])
    with pytest.raises(ValueError, match="needs y of shape"):
        cbn(x, None)


def test_projection_head_is_linear_term_plus_inner_product() -> None:
    torch.manual_seed(0)
    head = ProjectionHead(12, 5, functools.partial(linear, sn=True))
    head.eval()  # spectral norm then uses its stored estimate: the same weights in both computations
    h = torch.randn(7, 12)
    y = torch.tensor([0, 1, 2, 3, 4, 0, 2])
    lin = h @ head.linear.weight.T + head.linear.bias
    inner = (head.embed.weight[y] * h).sum(dim=1)
    torch.testing.assert_close(head(h, y), lin[:, 0] + inner)
    # Each class's score moves along its own embedding only.
    other = head(h, (y + 1) % 5)
    assert not torch.allclose(other, head(h, y))
    with pytest.raises(ValueError, match="pass labels"):
        head(h)


@pytest.mark.parametrize("ortho", [True, False])
def test_projection_embedding_init_follows_ortho_init(ortho: bool) -> None:
    torch.manual_seed(0)
    head = ProjectionHead(16, 5, functools.partial(linear, sn=False, ortho=ortho), sn=False, ortho=ortho)
    w = head.embed.weight.detach()                       # 5 class rows of 16
    gram = w @ w.T
    assert torch.allclose(gram, torch.eye(5), atol=1e-5) == ortho


def test_progressive_networks_get_sn_and_init_through_their_factories() -> None:
    """Every conv and dense layer of the progressive nets (attention and projection included) carries SN
    exactly when asked, and none is left plain."""
    from torch.nn.utils import parametrize

    from progan.config import NetworkConfig
    from progan.networks import build_discriminator, build_generator

    cfg = NetworkConfig(resolution=16, channels=3, fmap_base=256, fmap_max=16, latent_size=16, num_classes=3,
                        conditioning="projection", equalized_lr=False, spectral_norm="d", attention=[8])
    layers = (nn.Conv2d, nn.Linear, nn.Embedding)
    from progan.nn.equalized import EqualizedConv2d, EqualizedLinear

    kinds = layers + (EqualizedConv2d, EqualizedLinear)
    D, G = build_discriminator(cfg), build_generator(cfg)
    d_layers = [m for m in D.modules() if isinstance(m, kinds)]
    g_layers = [m for m in G.modules() if isinstance(m, kinds)]
    assert len(d_layers) > 10 and all(parametrize.is_parametrized(m, "weight") for m in d_layers)
    assert g_layers and not any(parametrize.is_parametrized(m, "weight") for m in g_layers)
