"""Layer factories for BigGAN-style networks: spectral normalisation and orthogonal initialisation.

Spectral normalisation (Miyato et al. 2018) divides a weight by an estimate of its largest singular
value, refined by one power iteration per training step (Algorithm 1 there; BigGAN, Brock et al. 2019,
likewise). torch's ``parametrizations.spectral_norm`` iterates at every train-mode forward call, so the
number of iterations would depend on how a step calls the network (fused or separate real and fake
calls, the gradient penalty's extra call, micro-batches, calls as the other network's opponent). The
training steps therefore advance it explicitly, once per step of the network that owns it
(:func:`power_iteration_`), and hold the estimate for every call inside the step
(:func:`held_power_iteration`); in eval mode torch never iterates. The factories
here take ``sn`` / ``ortho`` flags so a network can receive them pre-bound with
``functools.partial`` (BigGAN-PyTorch's ``which_conv``): switching SN on or off is one line.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import TypeVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrizations, parametrize
from torch.nn.utils.parametrizations import _SpectralNorm

from progan.nn.equalized import SQRT2, EqualizedConv2d, EqualizedLinear

SN_EPS = 1e-6  # BigGAN-PyTorch's order of magnitude; torch's default 1e-12 also works in fp32

ConvFactory = Callable[..., nn.Module]
"""``which_conv(in_channels, out_channels, kernel_size=3, bias=True) -> module``."""
LinearFactory = Callable[..., nn.Module]
"""``which_linear(in_features, out_features, bias=True) -> module``."""

M = TypeVar("M", bound=nn.Module)


def spectral_norm(module: M, n_power_iterations: int = 1) -> M:
    """Spectrally normalise ``module.weight`` in place (torch parametrization; u, v kept as buffers)."""
    # torch registers the parametrization on ``module`` itself and returns it.
    parametrizations.spectral_norm(module, n_power_iterations=n_power_iterations, eps=SN_EPS)
    return module


def spectral_norms(module: nn.Module) -> list[tuple[nn.Module, _SpectralNorm]]:
    """``(layer, its spectral-norm parametrization)`` for every spectrally normalised weight in ``module``."""
    found: list[tuple[nn.Module, _SpectralNorm]] = []
    for m in module.modules():
        if parametrize.is_parametrized(m, "weight"):
            # torch's stubs type module attributes as Tensor | Module; this one is parametrize's ModuleDict.
            found += [(m, p) for p in m.parametrizations.weight  # type: ignore[union-attr]
                      if isinstance(p, _SpectralNorm)]
    return found


@torch.no_grad()
def power_iteration_(module: nn.Module) -> int:
    """Advance every spectral norm of ``module`` by its power iteration(s) once, whatever the train mode;
    returns how many were advanced. The start of each of the network's own training steps."""
    sns = spectral_norms(module)
    for layer, sn in sns:
        mode = sn.training
        sn.training = True
        try:
            _ = layer.weight  # a train-mode evaluation of the parametrization runs the power method in place
        finally:
            sn.training = mode
    return len(sns)


@contextlib.contextmanager
def held_power_iteration(*modules: nn.Module) -> Iterator[None]:
    """Inside, every spectral norm of ``modules`` uses its current estimate without iterating (as in eval
    mode), while the rest of the network keeps its mode (batch norm still uses batch statistics)."""
    sns = [sn for m in modules for _, sn in spectral_norms(m)]
    modes = [sn.training for sn in sns]
    for sn in sns:
        sn.training = False
    try:
        yield
    finally:
        for sn, mode in zip(sns, modes):
            sn.training = mode


def orthogonal_init_(module: nn.Module) -> nn.Module:
    """Orthogonal init of a conv / linear / embedding weight (flattened to [out, -1]), zero bias (BigGAN)."""
    nn.init.orthogonal_(raw_weight(module))
    bias = getattr(module, "bias", None)
    if isinstance(bias, Tensor):
        nn.init.zeros_(bias)
    return module


def raw_weight(module: nn.Module) -> nn.Parameter:
    """The stored weight parameter: under spectral norm, the un-normalised ``original``."""
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original  # type: ignore[union-attr,return-value]
    return module.weight  # type: ignore[return-value]


def with_options(m: nn.Module, *, sn: bool, ortho: bool) -> nn.Module:
    """``m`` orthogonally initialised and/or spectrally normalised (in that order): BigGAN's layer options."""
    if ortho:
        orthogonal_init_(m)
    return spectral_norm(m) if sn else m


def conv2d(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    *,
    bias: bool = True,
    sn: bool = True,          # spectral normalisation, one power iteration per training forward
    ortho: bool = True,       # orthogonal init (BigGAN); False keeps torch's default init
) -> nn.Module:
    """``kernel_size`` conv with 'same' padding, optionally orthogonally initialised and spectrally
    normalised."""
    m = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
    return with_options(m, sn=sn, ortho=ortho)


def equalized_conv2d(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    *,
    gain: float = SQRT2,      # He gain; 1 for linear outputs (toRGB)
    bias: bool = True,
    equalized: bool = True,   # ProGAN's run-time He scaling (False: He init)
    sn: bool = False,
    ortho: bool = False,
) -> nn.Module:
    """The progressive networks' conv (:class:`~progan.nn.equalized.EqualizedConv2d`) with BigGAN's
    options."""
    m = EqualizedConv2d(in_channels, out_channels, kernel_size, gain=gain, equalized=equalized, bias=bias)
    return with_options(m, sn=sn, ortho=ortho)


def equalized_linear(
    in_features: int,
    out_features: int,
    *,
    gain: float = SQRT2,
    bias: bool = True,
    equalized: bool = True,
    sn: bool = False,
    ortho: bool = False,
) -> nn.Module:
    """The progressive networks' dense layer (:class:`~progan.nn.equalized.EqualizedLinear`) with
    BigGAN's options."""
    m = EqualizedLinear(in_features, out_features, gain=gain, equalized=equalized, bias=bias)
    return with_options(m, sn=sn, ortho=ortho)


def linear(in_features: int, out_features: int, *, bias: bool = True, sn: bool = True,
           ortho: bool = True) -> nn.Module:
    """Dense layer, optionally orthogonally initialised and spectrally normalised."""
    m = nn.Linear(in_features, out_features, bias=bias)
    return with_options(m, sn=sn, ortho=ortho)


def embedding(num_embeddings: int, dim: int, *, sn: bool = False, ortho: bool = True) -> nn.Embedding:
    """Class embedding. G's shared embedding has no SN (BigGAN: it is a lookup table, not a layer whose
    Lipschitz constant matters); D's projection embedding has SN when D's layers do."""
    m = nn.Embedding(num_embeddings, dim)
    if ortho:
        nn.init.orthogonal_(m.weight)
    return spectral_norm(m) if sn else m


def max_singular_value(weight: Tensor) -> float:
    """Exact largest singular value of a weight flattened to [out, -1] (what SN estimates)."""
    return float(torch.linalg.matrix_norm(weight.detach().flatten(1).float(), ord=2))


SN_CONV: ConvFactory = functools.partial(conv2d, sn=True)
"""BigGAN's default ``which_conv``: orthogonal init, spectral norm."""
SN_LINEAR: LinearFactory = functools.partial(linear, sn=True)
"""BigGAN's default ``which_linear``."""
