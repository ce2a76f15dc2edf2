"""``--compile``: G and D through ``torch.compile``, equal to eager to float rounding, never a failed run.

- A growing network is compiled through ``forward_at(x, labels, level, alpha)`` with the fade weight as a
  0-d tensor: the float ``lod`` that changes at every step of a fade-in never reaches the compiled code, so
  it compiles once per resolution and phase (stable / fade), not once per step. Dynamo's recompile limit
  is raised to cover every level of a 1024-pixel schedule (grad and no-grad variants included).
- Compile errors surface at the first call of a new graph (and, for the backward graph, at the first
  backward unless AOTAutograd is told to lower it ahead, which it is here); any error then falls back to
  the eager network for good, with one warning line. An error that the eager network raises too is the
  caller's and propagates unchanged.
- AOTAutograd cannot differentiate a compiled graph twice: D's gradient-penalty call (WGAN-GP) runs the
  eager D (:func:`eager`), its other calls the compiled one; with R1, whose penalty differentiates D's
  main call on the reals, D stays eager.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from progan.config import LossConfig
from progan.networks.coupling import BatchCoupling, coupling_of
from progan.networks.progressive import Discriminator, Generator, lod_level_alpha
from progan.training.notices import warn_line

RECOMPILE_LIMIT = 64  # 9 levels x stable/fade x grad/no-grad, with room for a dynamic batch dimension


@contextlib.contextmanager
def _compile_settings() -> Iterator[None]:
    # torch._dynamo takes over a second to import: only runs with --compile pay it
    import torch._dynamo.config as dynamo_config
    import torch._functorch.config as functorch_config

    limit = "recompile_limit" if hasattr(dynamo_config, "recompile_limit") else "cache_size_limit"
    patches = [dynamo_config.patch(**{limit: max(getattr(dynamo_config, limit), RECOMPILE_LIMIT)})]
    if hasattr(functorch_config, "force_non_lazy_backward_lowering"):
        # Lower the backward graph with the forward, so that its compile errors reach the fallback below.
        patches.append(functorch_config.patch(force_non_lazy_backward_lowering=True))
    with contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        yield


class CompiledNetwork(nn.Module):
    """``net`` run through ``torch.compile`` with the signature ``(x, labels=None, lod=None)`` of every
    progan network; eager for good after a failure. Parameters, modes and ``batch_coupling`` are ``net``'s."""

    def __init__(self, net: nn.Module, *, name: str, backend: str | Callable[..., Any] = "inductor",
                 warn: Callable[[str], None] = warn_line) -> None:
        super().__init__()
        self.net = net
        self.name = name
        self._growing = net if isinstance(net, (Generator, Discriminator)) else None
        # A function, not a module: the wrapper's only submodule is ``net``.
        self._compiled = torch.compile(net.forward if self._growing is None else self._growing.forward_at,
                                       backend=backend)
        self._warn = warn
        self.fell_back: str | None = None   # the error that made it eager, if one did
        self._alpha: tuple[float, Tensor] | None = None

    @property
    def batch_coupling(self) -> BatchCoupling:
        return coupling_of(self.net)

    def _alpha_tensor(self, alpha: float, device: torch.device) -> Tensor:
        if self._alpha is None or self._alpha[0] != alpha or self._alpha[1].device != device:
            self._alpha = (alpha, torch.tensor(alpha, dtype=torch.float32, device=device))
        return self._alpha[1]

    def _call_compiled(self, x: Tensor, labels: Tensor | None, lod: float | None) -> Any:
        net = self._growing
        if net is None:
            return self._compiled(x, labels, lod)
        level, alpha = lod_level_alpha(net.resolution_log2, net.lod if lod is None else float(lod))
        weight = None if alpha >= 1.0 else self._alpha_tensor(alpha, x.device)
        return self._compiled(x, labels, level, weight)

    def forward(self, x: Tensor, labels: Tensor | None = None, lod: float | None = None) -> Any:
        if self.fell_back is None:
            try:
                with _compile_settings():
                    return self._call_compiled(x, labels, lod)
            except Exception as e:  # noqa: BLE001 (whatever compiling raised; a genuine error re-raises below)
                out = self.net(x, labels, lod)  # the call again, eagerly
                reason = str(e).strip().splitlines()[0] if str(e).strip() else ""
                self.fell_back = f"{type(e).__name__}: {reason}"
                self._warn(f"progan train: warning: torch.compile of {self.name} failed "
                           f"({self.fell_back[:200]}); {self.name} runs eagerly")
                return out
        return self.net(x, labels, lod)


def eager(net: nn.Module) -> nn.Module:
    """The eager network behind a :class:`CompiledNetwork` (itself otherwise): what a double backward
    needs."""
    return net.net if isinstance(net, CompiledNetwork) else net


def compile_networks(G: nn.Module, D: nn.Module, loss: LossConfig, *, enabled: bool,
                     backend: str | Callable[..., Any] = "inductor",
                     main: bool = True) -> tuple[nn.Module, nn.Module]:
    """``(G_run, D_run)``: compiled when ``enabled`` (D not under R1, see the module docstring), else G and D.
    Warnings are printed by the main rank only (``main``)."""
    if not enabled:
        return G, D
    warn = functools.partial(warn_line, main=main)
    try:
        G_run: nn.Module = CompiledNetwork(G, name="G", backend=backend, warn=warn)
        D_run: nn.Module = (D if loss.r1_gamma > 0
                            else CompiledNetwork(D, name="D", backend=backend, warn=warn))
    except Exception as e:  # noqa: BLE001 (torch.compile is optional: an unsupported platform runs eagerly)
        warn(f"progan train: warning: torch.compile unavailable ({str(e).splitlines()[0][:200]}); "
             "running eagerly")
        return G, D
    return G_run, D_run
