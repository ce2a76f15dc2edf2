"""The gradient penalty and R1 at the authors' scale, against an explicit full-resolution computation.

The TF release (train.py ``process_reals``, ``G_paper``'s upscaling, ``D_paper``'s pooling, ``loss.py``)
and the Theano release (train.py repeats the reals ``2**min_lod`` times) feed D full-resolution images at
every lod and differentiate with respect to those. Here that is written out literally: nearest-upscale the
working-resolution reals and fakes by ``f = 2**floor(lod)``, mix them, let D see the mix through an
``f x f`` average pool, and take autograd's gradient with respect to the full-size images.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from progan.config import LossConfig, NetworkConfig
from progan.losses import d_loss, gradient_upscale
from progan.networks import Discriminator

RES = 16


def _d(lod: float) -> Discriminator:
    torch.manual_seed(0)
    cfg = NetworkConfig(resolution=RES, channels=3, fmap_base=64, fmap_max=16, latent_size=16,
                        mbstd_group_size=0)
    D = Discriminator(cfg)
    with torch.no_grad():  # non-trivial biases, so that no term is accidentally zero
        for name, p in D.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.3)
    D.lod = lod
    return D


def _full_size_norms(D: Discriminator, images_work: torch.Tensor, f: int) -> torch.Tensor:
    full = images_work.repeat_interleave(f, dim=2).repeat_interleave(f, dim=3).detach().requires_grad_(True)
    seen = F.avg_pool2d(full, f) if f > 1 else full
    scores, _ = D(seen, None)
    (grad,) = torch.autograd.grad(scores.sum(), full)
    return grad.flatten(1).norm(dim=1)


@pytest.mark.parametrize("lod", [0.0, 1.0, 1.5])
@pytest.mark.parametrize("gamma", [1.0, 750.0])
def test_wgan_gp_equals_the_full_resolution_penalty(lod: float, gamma: float) -> None:
    D = _d(lod)
    work = RES >> math.floor(lod)
    f = RES // work
    g = torch.Generator().manual_seed(1)
    reals = torch.randn(4, 3, work, work, generator=g)
    fakes = torch.randn(4, 3, work, work, generator=g)
    mix = torch.rand(4, generator=g)

    cfg = LossConfig(kind="wgan-gp", gp_lambda=10.0, gp_gamma=gamma, drift=0.0, gp_scale="full")
    upscale = gradient_upscale(RES, work, cfg.gp_scale)
    assert upscale == 2 ** math.floor(lod)
    _, terms = d_loss(cfg, D, reals, fakes, None, mix=mix, upscale=upscale)

    mixed = torch.lerp(reals, fakes, mix.view(-1, 1, 1, 1))
    norms = _full_size_norms(D, mixed, f)
    expected_gp = ((norms - gamma) ** 2 / gamma**2).mean()
    torch.testing.assert_close(terms["gp/grad_norm"], norms.mean(), rtol=1e-5, atol=0)
    torch.testing.assert_close(terms["loss/gp"], expected_gp, rtol=1e-5, atol=1e-12)

    # The "working" scale is the plain norm at the working resolution: f times the authors'.
    _, work_terms = d_loss(LossConfig(kind="wgan-gp", gp_gamma=gamma, drift=0.0, gp_scale="working"),
                           D, reals, fakes, None, mix=mix, upscale=gradient_upscale(RES, work, "working"))
    torch.testing.assert_close(work_terms["gp/grad_norm"], f * norms.mean(), rtol=1e-5, atol=0)


@pytest.mark.parametrize("lod", [0.0, 1.0, 1.5])
def test_r1_equals_the_full_resolution_penalty(lod: float) -> None:
    D = _d(lod)
    work = RES >> math.floor(lod)
    g = torch.Generator().manual_seed(2)
    reals = torch.randn(4, 3, work, work, generator=g)
    fakes = torch.randn(4, 3, work, work, generator=g)
    cfg = LossConfig(kind="hinge", r1_gamma=10.0, gp_scale="full")
    _, terms = d_loss(cfg, D, reals, fakes, None, upscale=gradient_upscale(RES, work, cfg.gp_scale))
    norms = _full_size_norms(D, reals, RES // work)
    torch.testing.assert_close(terms["loss/r1"], norms.square().mean(), rtol=1e-5, atol=1e-12)


def test_the_penalty_gradient_reaches_d_as_the_full_resolution_one_does() -> None:
    """Not only the value: D's weight gradient of the penalty equals the full-resolution formulation's."""
    lod = 1.5
    D = _d(lod)
    work = RES >> 1
    g = torch.Generator().manual_seed(3)
    reals, fakes = torch.randn(4, 3, work, work, generator=g), torch.randn(4, 3, work, work, generator=g)
    mix = torch.rand(4, generator=g)
    cfg = LossConfig(kind="wgan-gp", drift=0.0, gp_scale="full")
    loss, _ = d_loss(cfg, D, reals, fakes, None, mix=mix, upscale=2)
    ours = torch.autograd.grad(loss, list(D.parameters()), allow_unused=True)

    full = lambda x: x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # noqa: E731
    mixed = full(torch.lerp(reals, fakes, mix.view(-1, 1, 1, 1))).requires_grad_(True)
    scores = D(F.avg_pool2d(mixed, 2), None)[0]
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    gp = (grad.flatten(1).norm(dim=1) - 1.0).square()
    ref = (D(F.avg_pool2d(full(fakes), 2), None)[0] - D(F.avg_pool2d(full(reals), 2), None)[0]
           + 10.0 * gp).mean()
    theirs = torch.autograd.grad(ref, list(D.parameters()), allow_unused=True)
    for a, b in zip(ours, theirs):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("lod", [0.0, 1.0, 1.5])
def test_penalties_equal_the_tf_release_loss_on_its_own_network(lod: float) -> None:
    """The authors' loss.py (D_wgangp_acgan), run by tools/tf_reference/make_golden.py on their networks.py:
    its per-sample gradient norms at lod 0, 1 and 1.5, against progan's d_loss on the imported D."""
    from pathlib import Path

    import numpy as np

    from progan.importers import read_pickle

    golden = Path(__file__).parent / "importers" / "golden"
    z = np.load(golden / "uncond32_fused.npz")
    D = read_pickle(golden / "uncond32_fused.pkl").build("D")
    D.lod = lod
    key = f"{lod:g}"
    reals, fakes = torch.from_numpy(z[f"gp_reals_lod{key}"]), torch.from_numpy(z[f"gp_fakes_lod{key}"])
    mix = torch.from_numpy(z["gp_mixing"]).reshape(-1)
    upscale = gradient_upscale(32, reals.shape[-1], "full")
    cfg = LossConfig(kind="wgan-gp", gp_lambda=10.0, drift=0.0, gp_scale="full")
    _, terms = d_loss(cfg, D, reals, fakes, None, mix=mix, upscale=upscale)
    tf_norms = torch.from_numpy(z[f"gp_mixed_norms_lod{key}"]).double()
    torch.testing.assert_close(terms["gp/grad_norm"].double(), tf_norms.mean(), rtol=1e-4, atol=0)
    torch.testing.assert_close(terms["loss/gp"].double(), (tf_norms - 1.0).square().mean(),
                               rtol=2e-4, atol=1e-9)
    _, r1_terms = d_loss(LossConfig(kind="hinge", r1_gamma=1.0, gp_scale="full"), D, reals, fakes, None,
                         upscale=upscale)
    tf_r1 = torch.from_numpy(z[f"gp_r1_norms_lod{key}"]).double()
    torch.testing.assert_close(r1_terms["loss/r1"].double(), tf_r1.square().mean(), rtol=2e-4, atol=0)
