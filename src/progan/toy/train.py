"""Training loop of the 1-D toy GAN (Goodfellow et al. 2014, Alg. 1, with Adam and a large z batch)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from progan.errors import UserError
from progan.toy.data import check_numbers
from progan.toy.losses import ToyLoss, get_loss, gradient_penalty
from progan.toy.models import Standardizer, mlp
from progan.toy.stats import (
    Comparison,
    KSResult,
    Summary,
    compare,
    density_estimate,
    is_collapsed,
    ks_two_sample,
    summarize,
)

__all__ = ["ToyConfig", "ToyFrame", "ToyHistory", "ToyResult", "train_toy"]

@dataclass(frozen=True)
class ToyConfig:
    """Networks and optimiser of the toy GAN; the defaults learn N(16, 5) from 50 numbers in seconds."""

    batch_size: int = 512        # z samples per step (and real samples when the data set is larger)
    latent_size: int = 4
    hidden: int = 32             # width of each hidden layer, G and D alike
    layers: int = 2              # hidden layers
    lr: float = 1e-3             # Adam, both networks
    ema: float = 0.995           # G weights averaged over steps for the reported samples; 0 disables
    eval_samples: int = 20_000   # generated samples behind the summary, KS and densities
    frame_samples: int = 2_000   # generated samples kept per animation frame
    log_every: int = 10          # steps between history entries
    grid_points: int = 200       # x values at which D's curve is kept
    instance_noise: float = 0.4  # std of N(0, s^2) added to D's real and fake inputs (standardised units)
    threads: int | None = 1      # torch CPU threads while training; tiny nets run fastest on one

    def validate(self) -> None:
        for name in ("batch_size", "latent_size", "hidden", "layers", "eval_samples", "frame_samples",
                     "log_every", "grid_points"):
            if getattr(self, name) < 1:
                raise UserError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserError(f"lr must be > 0, got {self.lr}")
        if not (0 <= self.instance_noise and math.isfinite(self.instance_noise)):
            raise UserError(f"instance_noise must be >= 0, got {self.instance_noise}")
        if not 0 <= self.ema < 1:
            raise UserError(f"ema must be in [0, 1), got {self.ema}")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"threads must be >= 1 or None, got {self.threads}")


@dataclass
class ToyHistory:
    """Losses and the generated batch's mean/std (data units), every ``log_every`` steps."""

    step: list[int] = field(default_factory=list)
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    gen_mean: list[float] = field(default_factory=list)
    gen_std: list[float] = field(default_factory=list)

    def record(self, step: int, d_loss: float, g_loss: float, generated: np.ndarray | Tensor) -> None:
        self.step.append(step)
        self.d_loss.append(d_loss)
        self.g_loss.append(g_loss)
        self.gen_mean.append(float(generated.mean()))
        self.gen_std.append(float(generated.std()))


@dataclass(frozen=True)
class ToyFrame:
    """A snapshot for the training animation: G's samples and D's curve on ``ToyResult.grid``."""

    step: int
    samples: np.ndarray
    d_curve: np.ndarray


@dataclass
class ToyResult:
    """A trained toy GAN, its samples and how they compare to the data (all in data units)."""

    loss: str
    steps: int
    seed: int
    config: ToyConfig
    data: np.ndarray
    generated: np.ndarray
    data_summary: Summary
    generated_summary: Summary
    ks: KSResult
    history: ToyHistory
    frames: list[ToyFrame]
    grid: np.ndarray
    generator: nn.Module         # maps z ~ N(0, I) to standardised values
    discriminator: nn.Module     # maps standardised values to a logit (or critic score)
    scaler: Standardizer
    probability: bool            # whether discriminate() returns a probability
    seconds: float

    @property
    def mode_collapsed(self) -> bool:
        return is_collapsed(self.generated_summary.std, self.data_summary.std)

    def sample(self, n: int, seed: int | None = None) -> np.ndarray:
        """``n`` new values from G, in data units."""
        device = next(self.generator.parameters()).device
        gen = torch.Generator(device=device)
        gen.manual_seed(self.seed + 1 if seed is None else seed)
        return _sample(self.generator, n, self.config.latent_size, gen, self.scaler)

    def discriminate(self, x: np.ndarray | list[float]) -> np.ndarray:
        """D(x): the probability that x is real (or, for wgan-gp, the critic's score)."""
        return _discriminate(self.discriminator, np.asarray(x, np.float64), self.scaler, self.probability)

    def density(self, x: np.ndarray | list[float]) -> np.ndarray:
        """Density of G's distribution at x, a Gaussian KDE of the ``generated`` samples."""
        return density_estimate(self.generated, np.asarray(x, np.float64))

    def compare(self, values: list[float]) -> Comparison:
        """Which of ``values`` is more likely under G, with D's opinion beside it."""
        return compare(list(values), self.density(values), self.discriminate(values),
                       probability=self.probability)


@torch.no_grad()
def _sample(g: nn.Module, n: int, latent: int, gen: torch.Generator, scaler: Standardizer) -> np.ndarray:
    device = next(g.parameters()).device
    z = torch.randn(n, latent, generator=gen, device=device)
    return scaler.from_unit(g(z)[:, 0])


@torch.no_grad()
def _discriminate(d: nn.Module, x: np.ndarray, scaler: Standardizer, probability: bool) -> np.ndarray:
    device = next(d.parameters()).device
    u = torch.as_tensor(scaler.to_unit(x), dtype=torch.float32, device=device).reshape(-1, 1)
    out = d(u)[:, 0]
    if probability:
        out = torch.sigmoid(out)
    return out.to("cpu", torch.float64).numpy()


def _d_step(loss: ToyLoss, d: nn.Module, real: Tensor, fake: Tensor, gen: torch.Generator) -> Tensor:
    cost = loss.d_cost(d(real), d(fake))
    if loss.gp_weight:
        cost = cost + loss.gp_weight * gradient_penalty(d, real, fake, gen, one_sided=loss.gp_one_sided)
    return cost


def train_toy(
    data: np.ndarray,
    *,
    loss: str = "non-saturating",
    steps: int | None = None,
    seed: int = 0,
    config: ToyConfig = ToyConfig(),
    frame_every: int = 0,
    device: str | torch.device = "cpu",
    on_step: Callable[[int], None] | None = None,
) -> ToyResult:
    """Train G and D on 1-D ``data`` and compare G's samples with it.

    Follows Goodfellow et al. 2014 (Alg. 1): alternate D and G updates, here with Adam, the whole data
    set (or a random batch of it) as the real batch and ``config.batch_size`` z per step. The data are
    standardised first and results are reported in data units. Two stabilisers, both in ``config``:
    instance noise on D's inputs (see ``_train``) and an exponential moving average of G's weights
    (Karras et al. 2018, App. A.1) for the reported samples. ``frame_every > 0`` keeps a
    :class:`ToyFrame` every that many steps for an animation. ``steps=None`` takes the loss's
    ``default_steps`` (2000; 1000 for wgan-gp, whose 5 critic updates per step make each step dearer).
    Deterministic for a seed on CPU.
    """
    data = check_numbers(data, source="data")
    objective = get_loss(loss)
    steps = objective.default_steps if steps is None else steps
    if steps < 1:
        raise UserError(f"steps must be >= 1, got {steps}")
    if frame_every < 0:
        raise UserError(f"frame_every must be >= 0, got {frame_every}")
    config.validate()

    old_threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return _train(data, objective, steps, seed, config, frame_every, torch.device(device), on_step)
    finally:
        torch.set_num_threads(old_threads)


def _g_step(objective: ToyLoss, d: nn.Module, opt_g: torch.optim.Optimizer, real: Tensor,
            fake: Tensor) -> Tensor:
    d.requires_grad_(False)  # G's step needs gradients through D, not for D's weights
    try:
        g_loss = objective.g_cost(d(real), d(fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    finally:
        d.requires_grad_(True)
    return g_loss


def _train(data: np.ndarray, objective: ToyLoss, steps: int, seed: int, cfg: ToyConfig, frame_every: int,
           device: torch.device, on_step: Callable[[int], None] | None) -> ToyResult:
    start = time.perf_counter()
    scaler = Standardizer.fit(data)
    real_all = torch.as_tensor(scaler.to_unit(data), dtype=torch.float32, device=device).reshape(-1, 1)
    g = mlp(cfg.latent_size, cfg.hidden, cfg.layers, 1).to(device)
    d = mlp(1, cfg.hidden, cfg.layers, 1).to(device)
    g_avg = copy.deepcopy(g).requires_grad_(False) if cfg.ema > 0 else g
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr, betas=objective.betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr, betas=objective.betas)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)

    lo, hi = data.min(), data.max()
    pad = 0.25 * (hi - lo)
    grid = np.linspace(lo - pad, hi + pad, cfg.grid_points)
    history, frames = ToyHistory(), []

    def real_batch() -> Tensor:
        if len(real_all) <= cfg.batch_size:
            return real_all
        idx = torch.randint(len(real_all), (cfg.batch_size,), generator=gen, device=device)
        return real_all[idx]

    # 50 numbers are a bumpy sample, and a noise-free D teaches G the bumps (seed 0: a cluster at 23-24
    # made 24 look as likely as 15). Instance noise on both of D's inputs (Sonderby et al. 2016, Arjovsky &
    # Bottou 2017) leaves the optimum p_G = p_data but mutes D's signal about detail finer than the noise,
    # so G learns a smooth density in the steps it gets.
    def noisy(x: Tensor) -> Tensor:
        if not cfg.instance_noise:
            return x
        return x + cfg.instance_noise * torch.randn(x.shape, generator=gen, device=device)

    def z_batch() -> Tensor:
        return torch.randn(cfg.batch_size, cfg.latent_size, generator=gen, device=device)

    def snapshot(step: int) -> None:
        frame_gen = torch.Generator(device=device)
        frame_gen.manual_seed(seed + 1)
        samples = _sample(g_avg, cfg.frame_samples, cfg.latent_size, frame_gen, scaler)
        frames.append(ToyFrame(step, samples, _discriminate(d, grid, scaler, objective.probability)))

    if frame_every:
        snapshot(0)
    for step in range(1, steps + 1):
        for _ in range(objective.d_steps):
            with torch.no_grad():
                fake = g(z_batch())
            d_loss = _d_step(objective, d, noisy(real_batch()), noisy(fake), gen)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()

        real = noisy(real_batch())  # drawn before G's latents, as always: seeded runs stay the same
        fake = g(z_batch())
        g_loss = _g_step(objective, d, opt_g, real, noisy(fake))
        if cfg.ema > 0:
            with torch.no_grad():
                for p_avg, p in zip(g_avg.parameters(), g.parameters()):
                    p_avg.lerp_(p, 1 - cfg.ema)
        if step % cfg.log_every == 0 or step == steps:
            history.record(step, d_loss.item(), g_loss.item(), scaler.from_unit(fake[:, 0]))
        if frame_every and (step % frame_every == 0 or step == steps):
            snapshot(step)
        if on_step is not None:
            on_step(step)

    eval_gen = torch.Generator(device=device)
    eval_gen.manual_seed(seed + 1)
    generated = _sample(g_avg, cfg.eval_samples, cfg.latent_size, eval_gen, scaler)
    return ToyResult(
        loss=objective.name, steps=steps, seed=seed, config=cfg, data=data, generated=generated,
        data_summary=summarize(data), generated_summary=summarize(generated),
        ks=ks_two_sample(data, generated), history=history, frames=frames, grid=grid,
        generator=g_avg, discriminator=d, scaler=scaler, probability=objective.probability,
        seconds=time.perf_counter() - start,
    )
