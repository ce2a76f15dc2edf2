"""``progan bench``: training throughput per resolution against the machine's matmul peak."""

from __future__ import annotations

import json
from pathlib import Path

import click

from progan.config import is_power_of_two


@click.command("bench", context_settings={"show_default": True})
@click.option("--resolution", type=int, default=32, help="Largest resolution (power of two, 4..1024).")
@click.option("--channels", type=click.IntRange(min=1), default=3)
@click.option("--fmaps", type=click.IntRange(min=1), default=128, help="Feature maps at every resolution.")
@click.option("--latent", type=click.IntRange(min=1), default=128)
@click.option("--batch", type=click.IntRange(min=1), default=64,
              help="Minibatch (a multiple of 4 for the stddev groups).")
@click.option("--precision", "precisions", default="fp32", metavar="LIST",
              help="Comma list of fp32, bf16, fp16.")
@click.option("--baseline/--no-baseline", default=False, help="Also time the straightforward eager step.")
@click.option("--compile", "compile_", is_flag=True, default=False,
              help="Also time the step with G and D through torch.compile (as progan train --compile).")
@click.option("--channels-last", "channels_last", is_flag=True, default=False,
              help="Also time the step with NHWC tensors (as progan train --channels-last).")
@click.option("--threads", type=click.IntRange(min=0), default=0,
              help="torch CPU threads (0: progan's policy, every core other processes leave free).")
@click.option("--seconds", type=click.FloatRange(min=0.1), default=3.0, help="Minimum timing per row.")
@click.option("--device", default="cpu", metavar="cpu|cuda[:N]")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the table as JSON here.")
def command(resolution: int, channels: int, fmaps: int, latent: int, batch: int, precisions: str,
            baseline: bool, compile_: bool, channels_last: bool, threads: int, seconds: float, device: str,
            out: str | None) -> None:
    """Steady-state img/s, model FLOPs per image and achieved FLOP/s for each resolution and phase."""
    if not is_power_of_two(resolution) or not 4 <= resolution <= 1024:
        raise click.BadParameter(f"{resolution} is not a power of two in 4..1024", param_hint="--resolution")
    wanted = tuple(p.strip() for p in precisions.split(",") if p.strip())
    bad = [p for p in wanted if p not in ("fp32", "bf16", "fp16")]
    if bad or not wanted:
        raise click.BadParameter(f"choose from fp32, bf16, fp16; got {precisions!r}",
                                 param_hint="--precision")
    if batch % 4:
        raise click.BadParameter("must be a multiple of the minibatch-stddev group size 4",
                                 param_hint="--batch")
    if out is not None and not Path(out).resolve().parent.is_dir():
        raise click.BadParameter(f"folder of {out} does not exist", param_hint="--out")
    import torch

    from progan.bench.throughput import rows_as_dicts, run_bench
    from progan.device import resolve_device

    dev = resolve_device(device)
    policy = f"threads: {threads} (--threads)"
    if threads:
        torch.set_num_threads(threads)
    elif dev.type == "cpu":
        from progan.threads import ThreadGovernor

        governor = ThreadGovernor()
        governor.settle()  # the count progan train would start with
        policy = governor.describe()
    click.echo(policy)
    click.echo(f"{'res':>5} {'phase':6} {'prec':5} {'impl':20} {'img/s':>9} {'GFLOP/img':>10} {'GFLOP/s':>9} "
               f"{'peak':>8} {'of peak':>8}")

    def show(r) -> None:  # type: ignore[no-untyped-def]
        click.echo(f"{r.resolution:>5} {r.phase:6} {r.precision:5} {r.impl:20} {r.img_per_sec:9.1f} "
                   f"{r.gflop_per_img:10.3f} {r.achieved_gflops:9.1f} {r.peak_gflops:8.1f} "
                   f"{r.peak_fraction:8.2f}")

    rows = run_bench(resolution=resolution, channels=channels, fmaps=fmaps, latent=latent, batch=batch,
                     precisions=wanted, impls=("progan",) + (("progan-channels-last",
                                                              ) if channels_last else ())
                     + (("progan-compile",) if compile_ else ())
                     + (("eager-baseline",) if baseline else ()),
                     device=dev, min_seconds=seconds, progress=show)
    if out:
        meta = {"threads": torch.get_num_threads(), "thread_policy": policy, "device": str(dev),
                "torch": torch.__version__}
        Path(out).write_text(json.dumps({"meta": meta, "rows": rows_as_dicts(rows)}, indent=2) + "\n")
        click.echo(f"wrote {out}")
