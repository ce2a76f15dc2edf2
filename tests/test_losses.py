"""Each loss against its formula on hand-made discriminators with known scores and gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from progan.config import LossConfig, NetworkConfig
from progan.losses import LOSS_KINDS, d_loss, g_loss, gradient_penalty, r1_penalty
from progan.networks import Discriminator, Generator

N, SHAPE = 6, (2, 2, 2)   # images [6, 2, 2, 2]: 8 values each


def _half_square_norm(x: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, None]:
    """A D whose score 1/2 ||x||^2 has the input gradient x."""
    return 0.5 * x.flatten(1).square().sum(1), None


class LinearD:
    """scores = <x, w> with ||w|| = norm, so ||grad_x score|| = norm everywhere; optional linear logits."""

    def __init__(self, norm: float = 3.0, num_classes: int = 0, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(8, generator=g)
        self.w = (w * norm / w.norm()).requires_grad_(True)
        self.W = torch.randn(8, num_classes, generator=g) if num_classes else None

    def __call__(self, x: torch.Tensor, labels: torch.Tensor | None):
        flat = x.flatten(1)
        return flat @ self.w, (None if self.W is None else flat @ self.W)


def images(seed: int) -> torch.Tensor:
    return torch.randn((N,) + SHAPE, generator=torch.Generator().manual_seed(seed))


def test_loss_kinds_match_config() -> None:
    assert LOSS_KINDS == ("wgan-gp", "minimax", "non-saturating", "lsgan", "hinge") == LossConfig.KINDS


@pytest.mark.parametrize("norm, gamma", [(3.0, 1.0), (3.0, 2.0), (0.5, 750.0)])
def test_gradient_penalty_on_linear_d(norm: float, gamma: float) -> None:
    D = LinearD(norm)
    gp = gradient_penalty(D, images(1), images(2), None, gamma)
    assert gp.shape == (N,) and gp.dtype == torch.float32
    torch.testing.assert_close(gp, torch.full((N,), (norm - gamma) ** 2 / gamma**2))
    # create_graph: the penalty is differentiable w.r.t. D's parameters,
    # d/dw (||w|| - gamma)^2 / gamma^2 = 2 (||w|| - gamma) / gamma^2 * w / ||w||.
    gp.mean().backward()
    expected = 2 * (norm - gamma) / gamma**2 * D.w.detach() / norm
    torch.testing.assert_close(D.w.grad, expected)


def test_gradient_penalty_mixes_per_sample_uniform() -> None:
    # D(x) = 1/2 ||x||^2 has grad x; reals 0, fakes c * 1 -> mixed = u c, ||grad|| = u c sqrt(8).
    D = _half_square_norm
    c = 2.0
    gp = gradient_penalty(D, torch.zeros((N,) + SHAPE), torch.full((N,) + SHAPE, c), None, 1.0,
                          generator=torch.Generator().manual_seed(7))
    u = torch.rand((N, 1, 1, 1), generator=torch.Generator().manual_seed(7)).flatten()
    torch.testing.assert_close(gp, (u * c * math.sqrt(8) - 1).square())
    assert len(set(u.tolist())) == N


def test_d_loss_uses_caller_mixing_factors() -> None:
    # The loop draws u itself (one draw per global batch, sliced per rank / micro-batch).
    D = _half_square_norm
    reals, fakes = torch.zeros((N,) + SHAPE), torch.full((N,) + SHAPE, 2.0)
    u = torch.linspace(0.1, 0.9, N)
    _, logs = d_loss(LossConfig(), D, reals, fakes, None, mix=u)
    torch.testing.assert_close(logs["loss/gp"], (u * 2.0 * math.sqrt(8) - 1).square().mean())
    torch.testing.assert_close(logs["gp/grad_norm"], (u * 2.0 * math.sqrt(8)).mean())


def test_r1_penalty_on_linear_d() -> None:
    r1 = r1_penalty(LinearD(3.0), images(1), None)
    torch.testing.assert_close(r1, torch.full((N,), 9.0))


def test_wgan_gp_d_and_g_losses() -> None:
    D = LinearD(3.0)
    reals, fakes = images(1), images(2)
    with torch.no_grad():
        r, f = D(reals, None)[0], D(fakes, None)[0]
    cfg = LossConfig()                    # wgan-gp, lambda 10, gamma 1, drift 0.001
    loss, logs = d_loss(cfg, D, reals, fakes, None)
    expected = (f - r).mean() + 10 * (3 - 1) ** 2 + 0.001 * r.square().mean()
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(logs["loss/gp"], torch.tensor(4.0))
    torch.testing.assert_close(logs["gp/grad_norm"], torch.tensor(3.0))
    torch.testing.assert_close(logs["loss/drift"], r.square().mean())
    torch.testing.assert_close(logs["scores/real"], r.mean())
    torch.testing.assert_close(logs["scores/fake"], f.mean())
    assert logs["loss/D"] == loss and not any(v.requires_grad for v in logs.values())

    gl, glogs = g_loss(cfg, D, fakes, None)
    torch.testing.assert_close(gl, -f.mean())
    assert set(glogs) == {"loss/G", "scores/fake"}


def _sigmoid_forms(r: torch.Tensor, f: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(D loss, G loss) per kind, written directly from the papers' formulas."""
    d_r, d_f = torch.sigmoid(r), torch.sigmoid(f)
    j_d = -0.5 * torch.log(d_r).mean() - 0.5 * torch.log(1 - d_f).mean()
    return {
        "minimax": (j_d, 0.5 * torch.log(1 - d_f).mean()),        # J(G) = -J(D), G-dependent part
        "non-saturating": (j_d, -0.5 * torch.log(d_f).mean()),
        "lsgan": (0.5 * ((r - 1) ** 2).mean() + 0.5 * (f**2).mean(), 0.5 * ((f - 1) ** 2).mean()),
        "hinge": (torch.clamp(1 - r, min=0).mean() + torch.clamp(1 + f, min=0).mean(), -f.mean()),
    }


@pytest.mark.parametrize("kind", ["minimax", "non-saturating", "lsgan", "hinge"])
def test_other_kinds_against_formula(kind: str) -> None:
    D = LinearD(1.5)                      # scores of order 1: sigmoid well inside (0, 1)
    reals, fakes = images(4), images(5)
    with torch.no_grad():
        r, f = D(reals, None)[0].double(), D(fakes, None)[0].double()
    for margin in (1 - r, 1 + f):         # both hinge branches are exercised
        assert (margin > 0).any() and (margin < 0).any()
    want_d, want_g = _sigmoid_forms(r, f)[kind]
    cfg = LossConfig(kind=kind)
    dl, logs = d_loss(cfg, D, reals, fakes, None)
    gl, _ = g_loss(cfg, D, fakes, None)
    torch.testing.assert_close(dl.double(), want_d, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(gl.double(), want_g, rtol=1e-5, atol=1e-6)
    assert "loss/gp" not in logs and "loss/drift" not in logs          # WGAN-GP terms only with wgan-gp


def test_minimax_g_is_minus_j_d_in_its_gradient() -> None:
    # J(G) = -J(D): for the fake scores both have opposite gradients.
    D = LinearD(0.4)
    fakes = images(5).requires_grad_(True)
    cfg = LossConfig(kind="minimax")
    (gd,) = torch.autograd.grad(d_loss(cfg, D, images(6), fakes * 1.0, None)[0], D.w)
    gl, _ = g_loss(cfg, D, fakes, None)
    (gg,) = torch.autograd.grad(gl, D.w)
    reals_part = torch.autograd.grad(
        -0.5 * F.logsigmoid(D(images(6), None)[0]).mean(), D.w)[0]
    torch.testing.assert_close(gd - reals_part, -gg)


def test_r1_added_to_any_kind() -> None:
    D = LinearD(3.0)
    reals, fakes = images(1), images(2)
    base, _ = d_loss(LossConfig(kind="hinge"), D, reals, fakes, None)
    with_r1, logs = d_loss(LossConfig(kind="hinge", r1_gamma=10.0), D, reals, fakes, None)
    torch.testing.assert_close(with_r1 - base, torch.tensor(10.0 / 2 * 9.0))
    torch.testing.assert_close(logs["loss/r1"], torch.tensor(9.0))


@pytest.mark.parametrize("onehot", [False, True])
def test_acgan_term_against_cross_entropy(onehot: bool) -> None:
    D = LinearD(3.0, num_classes=4)
    reals, fakes = images(1), images(2)
    labels = torch.tensor([0, 3, 1, 1, 2, 0])
    given = F.one_hot(labels, 4).float() if onehot else labels
    with torch.no_grad():
        (r, rl), (f, fl) = D(reals, None), D(fakes, None)
    ce_r, ce_f = F.cross_entropy(rl, labels), F.cross_entropy(fl, labels)
    cfg = LossConfig(acgan_weight=0.5)
    dl, logs = d_loss(cfg, D, reals, fakes, given)
    torch.testing.assert_close(logs["loss/acgan"], ce_r + ce_f)
    torch.testing.assert_close(dl, (f - r).mean() + 10 * 4 + 0.001 * r.square().mean() + 0.5 * (ce_r + ce_f))
    gl, glogs = g_loss(cfg, D, fakes, given)
    torch.testing.assert_close(glogs["loss/acgan"], ce_f)
    torch.testing.assert_close(gl, -f.mean() + 0.5 * ce_f)


def test_conditional_d_needs_labels_and_unknown_kind_raises() -> None:
    D = LinearD(1.0, num_classes=3)
    with pytest.raises(ValueError, match="needs the labels"):
        g_loss(LossConfig(), D, images(1), None)
    bad = LossConfig()
    bad.kind = "wasserstein"
    with pytest.raises(ValueError, match="unknown loss kind"):
        g_loss(bad, LinearD(), images(1), None)


def test_d_loss_does_not_backprop_into_fakes() -> None:
    D = LinearD(3.0)
    src = images(2).requires_grad_(True)
    loss, _ = d_loss(LossConfig(), D, images(1), src * 2.0, None)
    loss.backward()
    assert src.grad is None and D.w.grad is not None


@pytest.mark.parametrize("kind", LOSS_KINDS)
def test_losses_float32_under_bfloat16_autocast(kind: str) -> None:
    torch.manual_seed(0)
    ncfg = NetworkConfig(resolution=8, channels=1, latent_size=16, fmap_base=64, fmap_max=16,
                         num_classes=3, conditioning="acgan")
    G, D = Generator(ncfg), Discriminator(ncfg)
    labels = torch.tensor([0, 1, 2, 0])
    reals = torch.rand(4, 1, 8, 8) * 2 - 1
    cfg = LossConfig(kind=kind, r1_gamma=1.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fakes = G(torch.randn(4, 16), labels, lod=0.5)

        def dfn(x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
            return D(x, y, lod=0.5)

        assert dfn(reals, labels)[0].dtype == torch.bfloat16
        dl, dlogs = d_loss(cfg, dfn, reals, fakes, labels)
        gl, glogs = g_loss(cfg, dfn, fakes, labels)
    assert dl.dtype == gl.dtype == torch.float32
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in {**dlogs, **glogs}.values())
    (dl + gl).backward()
    grads = [p.grad for p in D.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("kind", ["wgan-gp", "hinge", "minimax"])
def test_fused_real_fake_d_call_gives_the_same_loss_and_gradients(kind: str) -> None:
    from progan.config import NetworkConfig
    from progan.networks import Discriminator

    torch.manual_seed(3)
    D = Discriminator(NetworkConfig(resolution=8, channels=3, fmap_base=32, fmap_max=8, mbstd_group_size=4,
                                    num_classes=3, conditioning="acgan"))
    reals, fakes = torch.randn(8, 3, 8, 8), torch.randn(8, 3, 8, 8)
    labels, mix = torch.randint(0, 3, (8,)), torch.rand(8)
    out = []
    for fuse in (False, True):
        D.zero_grad()
        loss, terms = d_loss(LossConfig(kind=kind), D, reals, fakes, labels, mix=mix, fuse=fuse)
        loss.backward()
        out.append((loss.detach(), terms, [p.grad.clone() for p in D.parameters() if p.grad is not None]))
    (l0, t0, g0), (l1, t1, g1) = out
    torch.testing.assert_close(l0, l1)
    assert t0.keys() == t1.keys() and len(g0) == len(g1) > 4
    for a, b in zip(g0, g1):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
