"""--compile with the real Inductor backend: compiled G and D against eager.

The test suite compares compiled and eager networks with the ``aot_eager`` backend (tests/training/
test_compile.py); Inductor generates its own kernels and its first step took minutes to compile on a busy
2-core CPU, so its comparison lives here. For the progressive nets of the tiny preset at a stable and a
fade-in lod, and for a small BigGAN: one D step (WGAN-GP for the progressive nets, the penalty's call on the
eager D; hinge for BigGAN) and one G step with the compiled networks against the same steps eagerly, from
the same weights; reported as the largest gradient difference relative to the largest gradient. Then six
fade-in steps with a new lod each, counting Dynamo's frame compilations. Prints a table and writes
``benchmarks/results/compile-equivalence.json``.

    python benchmarks/bench_compile.py
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import torch
from torch._dynamo.testing import CompileCounterWithBackend

from progan.config import LossConfig, NetworkConfig
from progan.networks import build_discriminator, build_generator
from progan.training.compiling import CompiledNetwork, compile_networks
from progan.training.stats import Collector
from progan.training.steps import StepContext, d_step, g_step

HERE = Path(__file__).resolve().parent
PROGAN = NetworkConfig(resolution=16, channels=1, fmap_base=64, fmap_max=16, latent_size=16)
BIGGAN = NetworkConfig(architecture="biggan", resolution=16, channels=1, num_classes=3,
                       conditioning="projection", latent_size=24, hierarchical_z=True, spectral_norm="both",
                       ortho_init=True, biggan_ch=4, shared_dim=8, attention=[8], normalize_latents=False)


def _grads(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in module.parameters() if p.grad is not None]


def compare_steps(cfg: NetworkConfig, loss: str, lod: float) -> dict[str, float | str]:
    torch.manual_seed(0)
    G, D = build_generator(cfg), build_discriminator(cfg)
    Gc, Dc = copy.deepcopy(G), copy.deepcopy(D)
    if cfg.architecture == "progan":
        for net in (G, D, Gc, Dc):
            net.lod = lod
    G_run, D_run = compile_networks(Gc, Dc, LossConfig(kind=loss), enabled=True, backend="inductor")
    gen = torch.Generator().manual_seed(2)
    res = cfg.resolution >> int(lod)
    reals = torch.randn(8, 1, res, res, generator=gen).tanh()
    labels = torch.randint(3, (8,), generator=gen) if cfg.num_classes else None
    z, mix = torch.randn(8, cfg.latent_size, generator=gen), torch.rand(8, generator=gen)
    results, seconds = [], []
    for g, d, ge, de in ((G, D, G, D), (G_run, D_run, Gc, Dc)):
        t0 = time.perf_counter()
        ctx = StepContext(torch.device("cpu"))
        opt_D, opt_G = (torch.optim.SGD(m.parameters(), lr=0.0) for m in (de, ge))
        d_step(g, d, opt_D, LossConfig(kind=loss), reals, labels, z, Collector(None), ctx, mix)
        d_grads = _grads(de)
        g_step(g, d, opt_G, LossConfig(kind=loss), z, labels, Collector(None), ctx)
        results.append((d_grads, _grads(ge)))
        seconds.append(time.perf_counter() - t0)
    out: dict[str, float | str] = {"net": cfg.architecture, "loss": loss, "lod": lod,
                                   "first_step_s_eager": seconds[0], "first_step_s_compiled": seconds[1]}
    for i, name in enumerate(("D", "G")):
        a, b = results[0][i], results[1][i]
        scale = max(float(x.abs().max()) for x in a)
        out[f"{name}_grad_rel_diff"] = max(float((x - y).abs().max()) for x, y in zip(a, b)) / scale
    assert isinstance(G_run, CompiledNetwork) and isinstance(D_run, CompiledNetwork)
    out["fell_back"] = str(G_run.fell_back or D_run.fell_back or "")
    return out


def count_fade_compiles() -> list[int]:
    torch.manual_seed(0)
    G = build_generator(PROGAN)
    counter = CompileCounterWithBackend("inductor")
    G_run = CompiledNetwork(G, name="G", backend=counter)
    frames = []
    for lod in (1.9, 1.8, 1.7, 1.6, 1.5, 1.4):
        G.lod = lod
        G_run(torch.randn(4, 16)).sum().backward()
        frames.append(counter.frame_count)
    return frames


def main() -> None:
    torch.set_num_threads(1)
    rows = [compare_steps(PROGAN, "wgan-gp", 1.0), compare_steps(PROGAN, "wgan-gp", 0.5),
            compare_steps(BIGGAN, "hinge", 0.0)]
    for r in rows:
        fell_back = "  FELL BACK: " + str(r["fell_back"]) if r["fell_back"] else ""
        print(f"{r['net']:7} {r['loss']:8} lod {r['lod']:<4} D grad rel diff {r['D_grad_rel_diff']:.2e}  "
              f"G grad rel diff {r['G_grad_rel_diff']:.2e}  first step {r['first_step_s_compiled']:.0f} s "
              f"(eager {r['first_step_s_eager']:.2f} s){fell_back}")
    frames = count_fade_compiles()
    print(f"frames compiled after each of 6 fade-in steps: {frames}")
    (HERE / "results").mkdir(exist_ok=True)
    out = HERE / "results" / "compile-equivalence.json"
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    out.write_text(json.dumps({"meta": meta, "steps": rows, "fade_frames": frames}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
