"""--compile: compiled G and D equal eager (forward, weight gradients, the D step's gradient penalty through
the eager D) at stable and fade lods; the per-step lod does not recompile; compile errors at the first call,
in the forward or the backward graph, fall back to eager with one warning.

The suite compiles with the ``aot_eager`` backend (Dynamo + AOTAutograd, the layers that capture the graph
and derive its backward; eager kernels): with Inductor's C++ code generation the first step alone took 3.5 to
5.6 minutes on the busy 2-core machine. ``benchmarks/bench_compile.py`` runs the same comparison with Inductor
(gradients within 2e-6 of eager, relative to the largest: benchmarks/results/compile-equivalence.json).
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch._dynamo.backends.common import aot_autograd
from torch._dynamo.testing import CompileCounterWithBackend

from progan.config import LossConfig, NetworkConfig
from progan.networks import build_discriminator, build_generator
from progan.training.compiling import CompiledNetwork, compile_networks, eager
from progan.training.stats import Collector
from progan.training.steps import StepContext, d_step, g_step

PROGAN = NetworkConfig(resolution=16, channels=1, fmap_base=64, fmap_max=16, latent_size=16)
BIGGAN = NetworkConfig(architecture="biggan", resolution=16, channels=1, num_classes=3,
                       conditioning="projection", latent_size=24, hierarchical_z=True, spectral_norm="both",
                       ortho_init=True, biggan_ch=4, shared_dim=8, attention=[8], normalize_latents=False)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _pair(cfg: NetworkConfig):
    torch.manual_seed(0)
    G, D = build_generator(cfg), build_discriminator(cfg)
    return (G, D), (copy.deepcopy(G), copy.deepcopy(D))


def _grads(module: torch.nn.Module) -> list[torch.Tensor | None]:
    return [None if p.grad is None else p.grad.clone() for p in module.parameters()]


def _assert_same(a: list, b: list) -> None:
    assert [x is None for x in a] == [y is None for y in b]
    for x, y in zip(a, b):
        if x is not None:
            torch.testing.assert_close(y, x, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("lod", [1.0, 0.5], ids=["stable", "fade"])
def test_compiled_g_and_d_equal_eager_forward_and_gradients(lod: float) -> None:
    (G, D), (Gc, Dc) = _pair(PROGAN)
    G.lod = D.lod = Gc.lod = Dc.lod = lod
    G_run = CompiledNetwork(Gc, name="G", backend="aot_eager")
    D_run = CompiledNetwork(Dc, name="D", backend="aot_eager")
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(1))
    for g, d in ((G, D), (G_run, D_run)):
        score, _ = d(g(z))
        score.square().mean().backward()
    torch.testing.assert_close(G_run(z), G(z), rtol=1e-5, atol=1e-6)
    _assert_same(_grads(G) + _grads(D), _grads(Gc) + _grads(Dc))
    assert G_run.fell_back is None and D_run.fell_back is None


@pytest.mark.slow
@pytest.mark.parametrize("cfg, loss", [(PROGAN, "wgan-gp"), (BIGGAN, "hinge")], ids=["progan-gp", "biggan"])
def test_training_steps_with_compiled_networks_equal_eager(cfg: NetworkConfig, loss: str) -> None:
    """A D step (with WGAN-GP: the penalty's double backward runs through the eager D) and a G step."""
    (G, D), (Gc, Dc) = _pair(cfg)
    G_run, D_run = compile_networks(Gc, Dc, LossConfig(kind=loss), enabled=True, backend="aot_eager")
    assert isinstance(G_run, CompiledNetwork) and isinstance(D_run, CompiledNetwork) and eager(D_run) is Dc
    if cfg.architecture == "progan":
        for net in (G, D, Gc, Dc):
            net.lod = 0.5
    gen = torch.Generator().manual_seed(2)
    reals = torch.randn(8, 1, 16, 16, generator=gen).tanh()
    labels = torch.randint(3, (8,), generator=gen) if cfg.num_classes else None
    z, mix = torch.randn(8, cfg.latent_size, generator=gen), torch.rand(8, generator=gen)
    grads = []
    for g, d, g_eager, d_eager in ((G, D, G, D), (G_run, D_run, Gc, Dc)):
        ctx = StepContext(torch.device("cpu"))
        opt_D, opt_G = (torch.optim.SGD(m.parameters(), lr=0.0) for m in (d_eager, g_eager))
        assert d_step(g, d, opt_D, LossConfig(kind=loss), reals, labels, z, Collector(None), ctx, mix)
        step_grads = _grads(d_eager)
        assert g_step(g, d, opt_G, LossConfig(kind=loss), z, labels, Collector(None), ctx)
        grads.append(step_grads + _grads(g_eager))
    _assert_same(*grads)
    assert G_run.fell_back is None and D_run.fell_back is None


@pytest.mark.slow
def test_the_gradient_penalty_cannot_run_through_a_compiled_d() -> None:
    """Why the penalty's call takes the eager D: AOTAutograd refuses a second derivative."""
    (_, _), (_, Dc) = _pair(PROGAN)
    compiled = torch.compile(Dc.forward, backend="aot_eager")
    x = torch.randn(4, 1, 16, 16, requires_grad=True)
    (grad,) = torch.autograd.grad(compiled(x)[0].sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="double backward"):
        grad.square().sum().backward()


def test_r1_keeps_d_eager() -> None:
    (G, D), _ = _pair(PROGAN)
    G_run, D_run = compile_networks(G, D, LossConfig(r1_gamma=1.0), enabled=True, backend="aot_eager")
    assert isinstance(G_run, CompiledNetwork) and D_run is D


def test_a_changing_fade_weight_does_not_recompile() -> None:
    (G, _), _ = _pair(PROGAN)
    counter = CompileCounterWithBackend("aot_eager")
    G_run = CompiledNetwork(G, name="G", backend=counter)
    z = torch.randn(4, 16)
    frames = []
    for lod in (1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3, 1.2, 1.1):  # one fade-in, a new lod at every step
        G.lod = lod
        G_run(z).sum().backward()
        frames.append(counter.frame_count)
        torch.testing.assert_close(G_run(z), G(z), rtol=1e-5, atol=1e-6)
    assert frames == [1] * len(frames), frames
    G.lod = 1.0  # the stable phase that follows is another graph, compiled once
    for _ in range(3):
        G_run(z).sum().backward()
    assert counter.frame_count == 2


def _failing_backend(gm, example_inputs):
    raise RuntimeError("no C++ compiler on this machine")


def _failing_backward(gm, example_inputs):
    raise RuntimeError("cannot lower the backward graph")


@pytest.mark.parametrize("backend", [_failing_backend, aot_autograd(fw_compiler=lambda gm, ex: gm.forward,
                                                                     bw_compiler=_failing_backward)],
                         ids=["forward", "backward"])
def test_compile_errors_at_the_first_call_fall_back_to_eager_with_one_warning(backend) -> None:
    (G, _), (Gc, _) = _pair(PROGAN)
    G.lod = Gc.lod = 0.5
    lines: list[str] = []
    G_run = CompiledNetwork(Gc, name="G", backend=backend, warn=lines.append)
    z = torch.randn(4, 16)
    for _ in range(3):
        out = G_run(z)
        out.square().mean().backward()
    for _ in range(3):
        G(z).square().mean().backward()
    torch.testing.assert_close(out, G(z))
    _assert_same(_grads(G), _grads(Gc))
    assert len(lines) == 1 and lines[0].startswith("progan train: warning: torch.compile of G failed")
    assert "\n" not in lines[0] and G_run.fell_back is not None


def test_a_genuine_error_is_raised_not_swallowed() -> None:
    _, (Gc, _) = _pair(PROGAN)
    lines: list[str] = []
    G_run = CompiledNetwork(Gc, name="G", backend="aot_eager", warn=lines.append)
    with pytest.raises(ValueError, match="latents must have shape"):
        G_run(torch.randn(4, 7))
