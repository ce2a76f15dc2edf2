"""Batch coupling is declared by each network and true to its layers; spectral norm advances exactly one
power iteration per step of its network however the step calls it (fused or separate real/fake calls, the
gradient penalty's extra call, micro-batches, calls as the opponent), and D's gradient then no longer
depends on the call split in train mode."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
import torch.nn.functional as F
from biggan_threads import one_thread  # noqa: F401  (autouse)
from torch import nn

from progan.config import LossConfig, NetworkConfig
from progan.networks import build_discriminator, build_generator
from progan.networks.coupling import UNKNOWN, BatchCoupling, coupling_of
from progan.nn.mbstd import MinibatchStddev
from progan.nn.spectral import spectral_norms
from progan.training import steps
from progan.training.stats import Collector
from progan.training.steps import StepContext, can_fuse_d_calls, d_step, g_step

BIGGAN = {"architecture": "biggan", "resolution": 16, "channels": 1, "num_classes": 3,
          "conditioning": "projection", "latent_size": 24, "hierarchical_z": True, "spectral_norm": "both",
          "ortho_init": True, "biggan_ch": 4, "shared_dim": 8, "attention": [8], "normalize_latents": False}
PROGAN_SN = {"resolution": 16, "channels": 1, "latent_size": 16, "fmap_base": 64, "fmap_max": 16,
             "equalized_lr": False, "spectral_norm": "both", "mbstd_group_size": 4}
CONFIGS = {
    "progan": {"resolution": 16, "channels": 1, "latent_size": 16, "fmap_base": 64, "fmap_max": 16},
    "progan-mbstd1": {"resolution": 16, "channels": 1, "latent_size": 16, "fmap_base": 64, "fmap_max": 16,
                      "mbstd_group_size": 1},
    "progan-cbn-sn": PROGAN_SN | {"num_classes": 3, "conditioning": "projection", "g_norm": "cbn",
                                  "mbstd_group_size": 2},
    "progan-sn-d": PROGAN_SN | {"spectral_norm": "d"},
    "biggan": BIGGAN,
    "biggan-no-sn": BIGGAN | {"spectral_norm": "none"},
    "biggan-sn-g": BIGGAN | {"spectral_norm": "g"},
}


def _scanned(net: nn.Module) -> BatchCoupling:
    """What the layers say, independently of the declaration."""
    groups = [m.group_size for m in net.modules() if isinstance(m, MinibatchStddev)]
    return BatchCoupling(batch_norm=any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                        for m in net.modules()),
                         spectral_norm=bool(spectral_norms(net)), mbstd_group=max(groups, default=0))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_declared_coupling_matches_the_layers(name: str) -> None:
    cfg = NetworkConfig(**CONFIGS[name])
    for net in (build_generator(cfg), build_discriminator(cfg)):
        assert coupling_of(net) == _scanned(net), (name, type(net).__name__)


def test_declarations_per_architecture_and_fusing() -> None:
    G = build_generator(NetworkConfig(**CONFIGS["progan"]))
    D = build_discriminator(NetworkConfig(**CONFIGS["progan"]))
    assert coupling_of(G) == BatchCoupling() and coupling_of(D) == BatchCoupling(mbstd_group=4)
    assert [can_fuse_d_calls(D, n) for n in (2, 4, 6, 8)] == [False, True, False, True]
    bg = NetworkConfig(**BIGGAN)
    assert coupling_of(build_generator(bg)) == BatchCoupling(batch_norm=True, spectral_norm=True)
    assert can_fuse_d_calls(build_discriminator(bg), 3)  # SN alone does not prevent fusing
    # A module that declares nothing is assumed coupled in every way: never fused.
    assert coupling_of(nn.Linear(2, 2)) == UNKNOWN and not can_fuse_d_calls(nn.Linear(2, 2), 8)


def _us(net: nn.Module) -> list[torch.Tensor]:
    return [sn._u.clone() for _, sn in spectral_norms(net)]


def _one_iteration(net: nn.Module, us: list[torch.Tensor]) -> list[torch.Tensor]:
    """Miyato et al. 2018, Algorithm 1, written out: v = W^T u / |W^T u|, u = W v / |W v|."""
    out = []
    for (layer, _), u in zip(spectral_norms(net), us):
        w = layer.parametrizations.weight.original.detach().flatten(1)
        v = F.normalize(w.T @ u, dim=0, eps=1e-6)
        out.append(F.normalize(w @ v, dim=0, eps=1e-6))
    return out


def _nets(name: str):
    torch.manual_seed(0)
    cfg = NetworkConfig(**(BIGGAN if name == "biggan" else PROGAN_SN))
    G, D = build_generator(cfg), build_discriminator(cfg)
    if name != "biggan":
        G.lod = D.lod = 0.5  # mid fade: the blend's two D paths are both called
    return G, D, cfg


SPLITS = list(itertools.product(["biggan", "progan"], ["hinge", "wgan-gp"], [True, False], [0, 4]))


@pytest.mark.parametrize("arch, loss, fuse, micro", SPLITS)
def test_one_power_iteration_per_step_whatever_the_calls(arch, loss, fuse, micro, monkeypatch) -> None:
    if not fuse:
        monkeypatch.setattr(steps, "can_fuse_d_calls", lambda D, n: False)
    G, D, cfg = _nets(arch)
    n = 8
    gen = torch.Generator().manual_seed(1)
    reals = torch.randn(n, 1, 16, 16, generator=gen).tanh()
    labels = torch.randint(3, (n,), generator=gen) if cfg.num_classes else None
    z, mix = torch.randn(n, cfg.latent_size, generator=gen), torch.rand(n, generator=gen)
    ctx = StepContext(torch.device("cpu"), micro_batch=micro)
    opt_D = torch.optim.SGD(D.parameters(), lr=0.0)
    opt_G = torch.optim.SGD(G.parameters(), lr=0.0)
    g0, d0 = _us(G), _us(D)
    assert len(g0) > 5 and len(d0) > 5
    d_step(G, D, opt_D, LossConfig(kind=loss), reals, labels, z, Collector(None), ctx, mix)
    for got, want in zip(_us(D), _one_iteration(D, d0)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(_us(G), g0))  # G's estimate is G's own business
    d1 = _us(D)
    g_step(G, D, opt_G, LossConfig(kind=loss), z, labels, Collector(None), ctx)
    for got, want in zip(_us(G), _one_iteration(G, g0)):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(_us(D), d1))
    assert all(sn.training for _, sn in spectral_norms(G) + spectral_norms(D))  # modes restored


@pytest.mark.parametrize("arch", ["biggan", "progan"])
def test_train_mode_d_gradient_is_independent_of_the_call_split(arch, monkeypatch) -> None:
    """Fused, separate, and 2 or 4 micro-batches: one gradient (before, each split advanced SN
    differently)."""
    G, D0, cfg = _nets(arch)
    G.eval()  # G's BN uses running statistics: the fakes are the same for every split
    n = 8
    gen = torch.Generator().manual_seed(2)
    reals = torch.randn(n, 1, 16, 16, generator=gen).tanh()
    labels = torch.randint(3, (n,), generator=gen) if cfg.num_classes else None
    z, mix = torch.randn(n, cfg.latent_size, generator=gen), torch.rand(n, generator=gen)
    grads = []
    for fuse, micro in [(True, 0), (False, 0), (True, 4), (False, 4)]:
        monkeypatch.setattr(steps, "can_fuse_d_calls", lambda D, k, fuse=fuse: fuse)
        D = copy.deepcopy(D0).train()
        d_step(G, D, torch.optim.SGD(D.parameters(), lr=0.0), LossConfig(), reals, labels, z, Collector(None),
               StepContext(torch.device("cpu"), micro_batch=micro), mix)
        grads.append([p.grad for p in D.parameters() if p.grad is not None])
    scale = max(float(g.abs().max()) for g in grads[0])
    for other in grads[1:]:
        assert len(other) == len(grads[0])
        for a, b in zip(grads[0], other):
            torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("micro", [0, 4])
def test_joint_step_advances_each_network_once(micro: int) -> None:
    """Theano's separate_funcs=False step is one step of each network: one power iteration each."""
    from progan.training.steps import joint_step

    G, D, cfg = _nets("biggan")
    gen = torch.Generator().manual_seed(1)
    reals = torch.randn(8, 1, 16, 16, generator=gen).tanh()
    labels, z = torch.randint(3, (8,), generator=gen), torch.randn(8, cfg.latent_size, generator=gen)
    g0, d0 = _us(G), _us(D)
    opt_D, opt_G = torch.optim.SGD(D.parameters(), lr=0.0), torch.optim.SGD(G.parameters(), lr=0.0)
    joint_step(G, D, opt_G, opt_D, LossConfig(kind="hinge"), reals, labels, z, Collector(None),
               StepContext(torch.device("cpu"), micro_batch=micro))
    for net, before in ((G, g0), (D, d0)):
        for got, want in zip(_us(net), _one_iteration(net, before)):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
