"""The comparison point of ``progan bench``: the same WGAN-GP step written the straightforward eager way.

This is how the PyTorch ProGAN ports we compare with write a step: G's forward for D's update
builds a graph that is then detached, D is called three times (reals, fakes, interpolates), D's
weight gradients are computed during G's update, and Adam loops over parameters one by one.
Same networks and same arithmetic as :mod:`progan.training.steps`, so the ratio measures only how
the step is organised.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import torch

from progan.config import LossConfig
from progan.training.steps import autocast_context


def eager_step(G: torch.nn.Module, D: torch.nn.Module, reals: torch.Tensor, z: torch.Tensor, loss: LossConfig,
               precision: str) -> Callable[[], None]:
    if loss.kind != "wgan-gp":
        raise ValueError("the eager baseline implements the wgan-gp step only")
    opt_G, opt_D = (torch.optim.Adam(m.parameters(), lr=1e-3, betas=(0.0, 0.99), eps=1e-8, foreach=False)
                    for m in (G, D))

    def autocast() -> contextlib.AbstractContextManager[None]:
        return autocast_context(reals.device.type, precision)

    def step() -> None:
        n = reals.shape[0]
        with autocast():
            fakes = G(z)
            d_real = D(reals)[0].float()
            d_fake = D(fakes.detach())[0].float()
            eps = torch.rand(n, 1, 1, 1, device=reals.device)
            mixed = (eps * reals + (1 - eps) * fakes.detach().float()).requires_grad_(True)
            d_mixed = D(mixed)[0].float()
            (grad,) = torch.autograd.grad(d_mixed.sum(), mixed, create_graph=True)
            gp = (grad.float().reshape(n, -1).norm(dim=1) - loss.gp_gamma).square() / loss.gp_gamma**2
            loss_d = (d_fake - d_real + loss.gp_lambda * gp + loss.drift * d_real.square()).mean()
        opt_D.zero_grad()
        loss_d.backward()
        opt_D.step()
        with autocast():
            loss_g = -D(G(z))[0].float().mean()
        opt_G.zero_grad()
        loss_g.backward()
        opt_G.step()

    return step
