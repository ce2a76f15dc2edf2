"""GAN objectives for the 1-D toy, written on D's logits.

``minimax`` is the original game of Goodfellow et al. 2014 (Eq. 1), as the cost pair
J(D) = -1/2 E_x log D(x) - 1/2 E_z log(1 - D(G(z))),  J(G) = -J(D)
(notation of Goodfellow, "NIPS 2016 Tutorial: Generative Adversarial Networks", Sec. 3.2.2).
``non-saturating`` keeps J(D) but gives G the heuristic cost -1/2 E_z log D(G(z)) (Sec. 3.2.3).
``wgan-gp`` is the Wasserstein critic with gradient penalty, lambda = 10 (Gulrajani et al. 2017, Alg. 1),
with their one-sided penalty: in 1-D the critic's gradient is a scalar, so turning the critic around
(the data moved to G's other side) passes through slope 0, where the two-sided penalty costs lambda; the
critic then lags, G drifts many standard deviations away and oscillates (seen on N(16, 5), seeds 0-2).

With D(x) = sigmoid(l(x)): log D = logsigmoid(l) and log(1 - D) = logsigmoid(-l), which stay finite
where sigmoid saturates to 0 or 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from progan.errors import UserError

__all__ = [
    "LOSSES",
    "ToyLoss",
    "get_loss",
    "gradient_penalty",
    "minimax_d",
    "minimax_g",
    "non_saturating_g",
    "wgan_d",
    "wgan_g",
]

GP_WEIGHT = 10.0


def minimax_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """J(D) = -1/2 E_x log D(x) - 1/2 E_z log(1 - D(G(z)))."""
    return -0.5 * F.logsigmoid(real_logits).mean() - 0.5 * F.logsigmoid(-fake_logits).mean()


def minimax_g(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """J(G) = -J(D); the real term carries no gradient to G but keeps the value exact."""
    return -minimax_d(real_logits, fake_logits)


def non_saturating_g(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """J(G) = -1/2 E_z log D(G(z))."""
    del real_logits
    return -0.5 * F.logsigmoid(fake_logits).mean()


def wgan_d(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Critic cost E_z C(G(z)) - E_x C(x), without the penalty."""
    return fake_logits.mean() - real_logits.mean()


def wgan_g(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Generator cost -E_z C(G(z))."""
    del real_logits
    return -fake_logits.mean()


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator,
                     *, one_sided: bool = False) -> Tensor:
    """E (||grad C(x_hat)|| - 1)^2 at random points x_hat between real and fake (Gulrajani et al. 2017).

    ``one_sided`` penalises only norms above 1, E max(0, ||grad|| - 1)^2 (the alternative discussed in
    their Sec. 4).
    """
    n = min(len(real), len(fake))
    eps = torch.rand(n, 1, generator=generator, device=real.device, dtype=real.dtype)
    x_hat = (eps * real[:n] + (1 - eps) * fake[:n]).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    excess = grad.flatten(1).norm(dim=1) - 1
    if one_sided:
        excess = excess.clamp(min=0)
    return (excess**2).mean()


LogitLoss = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class ToyLoss:
    """One objective: costs on logits, whether it adds a gradient penalty, and its usual optimiser."""

    name: str
    d_cost: LogitLoss
    g_cost: LogitLoss
    gp_weight: float = 0.0
    gp_one_sided: bool = False
    d_steps: int = 1                          # critic updates per G update
    betas: tuple[float, float] = (0.5, 0.999)
    probability: bool = True                  # D's output is a probability (sigmoid of the logit)
    default_steps: int = 2000                 # G updates that learn N(16, 5) from 50 numbers


LOSSES: dict[str, ToyLoss] = {
    "minimax": ToyLoss("minimax", minimax_d, minimax_g),
    "non-saturating": ToyLoss("non-saturating", minimax_d, non_saturating_g),
    # Gulrajani et al. use 5 critic steps and Adam(0, 0.9).
    "wgan-gp": ToyLoss("wgan-gp", wgan_d, wgan_g, gp_weight=GP_WEIGHT, gp_one_sided=True, d_steps=5,
                       betas=(0.0, 0.9), probability=False, default_steps=1000),
}


def get_loss(name: str) -> ToyLoss:
    if name not in LOSSES:
        raise UserError(f"unknown loss {name!r}; choose one of: {', '.join(LOSSES)}")
    return LOSSES[name]
