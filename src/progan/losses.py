"""GAN objectives for the progressive networks; each takes D as a callable so the training loop can
bind ``lod`` or wrap it for DDP.

Default is the ProGAN paper's (Karras et al. 2018, App. A.1; TF release ``D_wgangp_acgan`` /
``G_wgan_acgan``): WGAN-GP (Gulrajani et al. 2017) with the drift term, plus the AC-GAN label
cross-entropy (Odena et al. 2017) when D predicts labels. Every reduction, the gradient penalty
included, runs in float32 even under autocast: scores and logits are cast before use.

Logged values (detached, unweighted means): ``loss/D``, ``loss/G``, ``scores/real``, ``scores/fake``,
``loss/gp`` and ``gp/grad_norm`` (wgan-gp), ``loss/drift`` (wgan-gp), ``loss/r1`` (R1),
``loss/acgan`` (conditional D: real + fake cross-entropy for D, fake only for G), ``scores/real_sign``
(every loss but wgan-gp: mean sign of D(real) about the decision boundary, ADA's r_t).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from progan.config import LossConfig

DFn = Callable[[Tensor, Tensor | None], tuple[Tensor, Tensor | None]]
"""``D(images, labels) -> (scores [N], label logits [N, K] or None)``."""

LOSS_KINDS: tuple[str, ...] = LossConfig.KINDS


def _run_d(D: DFn, images: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
    scores, logits = D(images, labels)
    if logits is not None and labels is None:
        raise ValueError("this discriminator predicts labels (AC-GAN): the loss needs the labels")
    return scores.float(), (None if logits is None else logits.float())


def _input_grad_norms(scores: Tensor, images: Tensor, scale: float = 1.0) -> Tensor:
    """Per-sample L2 norm of d(sum scores)/d images times ``scale``, kept differentiable (create_graph).

    ``scale = 1 / f`` gives the norm with respect to the images nearest-upscaled by ``f`` that the
    authors' D takes at every lod: D average-pools them back, so each of the f^2 copies of a pixel
    receives 1/f^2 of its gradient and the norm shrinks by f.
    """
    (grad,) = torch.autograd.grad(scores.sum(), images, create_graph=True)
    norms = grad.float().flatten(1).norm(dim=1)
    return norms * scale if scale != 1.0 else norms


def _acgan_ce(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-sample softmax cross-entropy; labels as class indices [N] or (one-hot) rows [N, K]."""
    target = labels.long() if labels.dim() == 1 else labels.float()
    return F.cross_entropy(logits, target, reduction="none")


def gradient_penalty(
    D: DFn,
    reals: Tensor,
    fakes: Tensor,
    labels: Tensor | None,
    gamma: float = 1.0,
    *,
    generator: torch.Generator | None = None,
    upscale: int = 1,
) -> Tensor:
    """Per-sample ``(||grad_x D(x)|| - gamma)^2 / gamma^2`` at ``x = lerp(real, fake, u)``, ``u ~ U[0, 1]``
    per sample (Gulrajani et al. 2017 with the target gamma of the ProGAN TF release). ``[N]``, float32.

    ``upscale = f`` takes the gradient with respect to the images nearest-upscaled by ``f``, as the TF
    release's ``loss.py`` does with the full-resolution images it feeds D at lod ``log2 f`` (see
    :func:`gradient_upscale`)."""
    return _gradient_penalty(D, reals, fakes, labels, gamma, generator, upscale=upscale)[0]


def gradient_upscale(full_resolution: int, working_resolution: int, gp_scale: str) -> int:
    """The factor ``f`` between the images the authors' D differentiates at (full resolution at every lod)
    and the working-resolution images progan's D takes: ``2**floor(lod)`` for ``gp_scale="full"``, 1 for
    ``"working"``."""
    if gp_scale == "working":
        return 1
    if full_resolution % working_resolution:
        raise ValueError(f"working resolution {working_resolution} does not divide {full_resolution}")
    return full_resolution // working_resolution


def _gradient_penalty(
    D: DFn, reals: Tensor, fakes: Tensor, labels: Tensor | None, gamma: float,
    generator: torch.Generator | None, mix: Tensor | None = None, upscale: int = 1,
) -> tuple[Tensor, Tensor]:
    # Fakes from an autocast G are half precision: mix (and differentiate) in the wider dtype.
    dtype = torch.promote_types(reals.dtype, fakes.dtype)
    shape = (reals.shape[0],) + (1,) * (reals.dim() - 1)
    if mix is not None:
        u = mix.to(dtype).reshape(shape)
    else:
        u = torch.rand(shape, device=reals.device, dtype=dtype, generator=generator)
    mixed = torch.lerp(reals.detach().to(dtype), fakes.detach().to(dtype), u).requires_grad_(True)
    norms = _input_grad_norms(_run_d(D, mixed, labels)[0], mixed, 1.0 / upscale)
    return (norms - gamma).square() / gamma**2, norms


def r1_penalty(D: DFn, reals: Tensor, labels: Tensor | None, *, upscale: int = 1) -> Tensor:
    """Per-sample ``||grad_x D(x)||^2`` on reals (Mescheder et al. 2018); the D loss adds ``r1_gamma / 2``
    times it. ``upscale`` as in :func:`gradient_penalty`."""
    reals = reals.detach().requires_grad_(True)
    return _input_grad_norms(_run_d(D, reals, labels)[0], reals, 1.0 / upscale).square()


def d_loss(
    cfg: LossConfig,
    D: DFn,
    reals: Tensor,
    fakes: Tensor,
    labels: Tensor | None,
    *,
    generator: torch.Generator | None = None,   # for the gradient-penalty mixing factors
    mix: Tensor | None = None,                  # or the factors themselves, [N] (drawn by the caller)
    fuse: bool = False,                         # one D call on reals ++ fakes (see below)
    upscale: int = 1,                           # GP / R1 w.r.t. images upscaled by this (gradient_upscale)
    penalty_D: DFn | None = None,               # D for the gradient penalty's call (default D): an eager D
                                                # when D is compiled, which cannot be differentiated twice
) -> tuple[Tensor, dict[str, Tensor]]:
    """Discriminator loss (scalar, float32) and its logged terms. ``fakes`` are detached here.

    wgan-gp: ``D(fake) - D(real) + gp_lambda * GP + drift * D(real)^2`` (ProGAN TF release);
    minimax / non-saturating: ``-1/2 log sigmoid(D(real)) - 1/2 log(1 - sigmoid(D(fake)))``
    (Goodfellow et al. 2014, J(D) as in Goodfellow 2016, eq. 8), in softplus form;
    lsgan: ``1/2 (D(real) - 1)^2 + 1/2 D(fake)^2`` (Mao et al. 2017, 0-1 coding);
    hinge: ``relu(1 - D(real)) + relu(1 + D(fake))`` (Lim & Ye 2017; Miyato et al. 2018).
    Any kind: ``+ r1_gamma / 2 * ||grad D(real)||^2`` when ``r1_gamma > 0``. GP and R1 gradients are taken
    with respect to the images upscaled by ``upscale`` (the authors' full-resolution convention when the
    caller passes ``2**floor(lod)``). With a conditional D,
    ``+ acgan_weight * (CE(real logits, labels) + CE(fake logits, labels))`` — the fakes were
    generated for ``labels``.
    """
    fakes = fakes.detach()
    use_r1 = cfg.r1_gamma > 0
    if use_r1:
        reals = reals.detach().requires_grad_(True)
    if fuse:
        # One D call on twice the batch: half the per-call overhead and larger, more efficient GEMMs.
        # Only valid when D treats samples independently across the halves (minibatch-stddev groups
        # must not straddle them: the caller checks the batch is a multiple of the group size).
        both_labels = None if labels is None else torch.cat([labels, labels])
        scores, logits = _run_d(D, torch.cat([reals, fakes.to(reals.dtype)]), both_labels)
        real, fake = scores.chunk(2)
        real_logits, fake_logits = (None, None) if logits is None else logits.chunk(2)
    else:
        real, real_logits = _run_d(D, reals, labels)
        fake, fake_logits = _run_d(D, fakes, labels)
    logs: dict[str, Tensor] = {}

    if cfg.kind == "wgan-gp":
        per_sample = fake - real
        if cfg.gp_lambda > 0:
            D_gp = D if penalty_D is None else penalty_D
            gp, norms = _gradient_penalty(D_gp, reals, fakes, labels, cfg.gp_gamma, generator, mix, upscale)
            per_sample = per_sample + cfg.gp_lambda * gp
            logs["loss/gp"], logs["gp/grad_norm"] = gp.mean(), norms.mean()
        if cfg.drift > 0:
            per_sample = per_sample + cfg.drift * real.square()
            logs["loss/drift"] = real.square().mean()
    elif cfg.kind in ("minimax", "non-saturating"):
        per_sample = 0.5 * (F.softplus(-real) + F.softplus(fake))
    elif cfg.kind == "lsgan":
        per_sample = 0.5 * ((real - 1).square() + fake.square())
    elif cfg.kind == "hinge":
        per_sample = F.relu(1 - real) + F.relu(1 + fake)
    else:
        raise ValueError(f"unknown loss kind {cfg.kind!r}; expected one of {', '.join(LOSS_KINDS)}")

    if use_r1:
        r1 = _input_grad_norms(real, reals, 1.0 / upscale).square()
        per_sample = per_sample + 0.5 * cfg.r1_gamma * r1
        logs["loss/r1"] = r1.mean()
    if real_logits is not None and fake_logits is not None and labels is not None:
        ac = _acgan_ce(real_logits, labels) + _acgan_ce(fake_logits, labels)
        per_sample = per_sample + cfg.acgan_weight * ac
        logs["loss/acgan"] = ac.mean()

    if cfg.kind != "wgan-gp":
        # ADA's overfitting heuristic r_t: the mean sign of D(real) about the decision boundary.
        logs["scores/real_sign"] = (real - (0.5 if cfg.kind == "lsgan" else 0.0)).sign().mean()
    loss = per_sample.mean()
    logs.update({"loss/D": loss, "scores/real": real.mean(), "scores/fake": fake.mean()})
    return loss, {k: v.detach() for k, v in logs.items()}


def g_loss(
    cfg: LossConfig, D: DFn, fakes: Tensor, labels: Tensor | None
) -> tuple[Tensor, dict[str, Tensor]]:
    """Generator loss (scalar, float32) and its logged terms.

    wgan-gp and hinge: ``-D(fake)``; minimax: ``-J(D)``'s fake term, ``1/2 log(1 - sigmoid(D(fake)))``;
    non-saturating: ``-1/2 log sigmoid(D(fake))`` (Goodfellow 2016, eq. 13: same scale as J(D));
    lsgan: ``1/2 (D(fake) - 1)^2``. With a conditional D, ``+ acgan_weight * CE(fake logits, labels)``
    (TF release ``G_wgan_acgan``).
    """
    fake, fake_logits = _run_d(D, fakes, labels)
    if cfg.kind in ("wgan-gp", "hinge"):
        per_sample = -fake
    elif cfg.kind == "minimax":
        per_sample = -0.5 * F.softplus(fake)
    elif cfg.kind == "non-saturating":
        per_sample = 0.5 * F.softplus(-fake)
    elif cfg.kind == "lsgan":
        per_sample = 0.5 * (fake - 1).square()
    else:
        raise ValueError(f"unknown loss kind {cfg.kind!r}; expected one of {', '.join(LOSS_KINDS)}")
    logs: dict[str, Tensor] = {}
    if fake_logits is not None and labels is not None:
        ac = _acgan_ce(fake_logits, labels)
        per_sample = per_sample + cfg.acgan_weight * ac
        logs["loss/acgan"] = ac.mean()
    loss = per_sample.mean()
    logs.update({"loss/G": loss, "scores/fake": fake.mean()})
    return loss, {k: v.detach() for k, v in logs.items()}


def orthogonal_regularization(G: torch.nn.Module, beta: float, form: str = "code") -> Tensor:
    """BigGAN's off-diagonal orthogonal regularisation (Brock et al. 2019, Sec. 3.1, eq. 3), float32 scalar.

    ``form="paper"``: ``beta * sum_W ||W W^T * (1 - I)||_F^2`` (eq. 3), whose gradient is
    ``4 beta (W W^T * (1 - I)) W``. ``form="code"``: half of that, so that the gradient is the
    ``2 beta (W W^T * (1 - I)) W`` that BigGAN-PyTorch's ``utils.ortho`` adds to each weight's gradient.
    The sum runs over every weight of ``G`` with two or more dimensions,
    flattened to ``[out, -1]`` (one row per filter, so the Gram matrix compares filters as the
    authors' code does), except embeddings: the shared class embedding is a lookup table, not a
    layer (BigGAN leaves it out). Under spectral norm the stored (un-normalised) weight is used.
    """
    embeddings = {id(p) for m in G.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    total = torch.zeros((), dtype=torch.float32)
    for p in G.parameters():
        if p.dim() < 2 or id(p) in embeddings or not p.requires_grad:
            continue
        w = p.float().flatten(1)
        gram = w @ w.T
        off = gram - torch.diag_embed(torch.diagonal(gram))
        total = total.to(p.device) + off.square().sum()
    if form not in ("code", "paper"):
        raise ValueError(f"form must be 'code' or 'paper', got {form!r}")
    return (beta if form == "paper" else 0.5 * beta) * total
