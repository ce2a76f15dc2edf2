"""``progan train``: parse and validate options, resolve the configuration, call
:func:`progan.training.loop.train`."""

from __future__ import annotations

import json
import sys

import click

from progan.config import TrainConfig
from progan.errors import UserError
from progan.presets import PRESETS


def _resolve_config(preset: str, resume: str | None, outdir: str, overrides: list[str],
                    init_from: str | None = None) -> TrainConfig:
    from progan.config_io import apply_override, from_dict, train_config_from_dict
    from progan.presets import get_preset

    if resume:
        # A resumed run continues with the configuration it was started with; options given now override it.
        from progan.training.checkpoint import read_checkpoint
        from progan.training.rundir import resolve_resume

        ckpt = read_checkpoint(resolve_resume(resume, outdir), prefixes=())
        cfg = train_config_from_dict(ckpt.config)
    else:
        cfg = get_preset(preset)
    if init_from:
        # Fine-tuning keeps the source's architecture and, unless --set says otherwise, trains at its full
        # resolution from the first step (no growing).
        from progan import importers
        from progan.config import NetworkConfig
        from progan.training.checkpoint import read_checkpoint

        if importers.is_pickle_path(init_from):
            cfg.network = importers.read_pickle(init_from).config
            cfg.run.init_from = init_from
        else:
            source = read_checkpoint(init_from, prefixes=())
            cfg.network = from_dict(NetworkConfig, source.config["network"], "network")
            cfg.run.init_from = str(source.path)
        cfg.schedule.initial_resolution = cfg.network.resolution
    for assignment in overrides:
        apply_override(cfg, assignment)
    return cfg


@click.command("train", context_settings={"show_default": True})
@click.option("--data", type=click.Path(exists=True), default=None,
              help="Prepared data set (progan prepare), or a source that is prepared once into a cache. "
                   "Default: Debian's Fashion-MNIST.")
@click.option("--outdir", default="runs", help="Folder that receives numbered run folders.")
@click.option("--preset", default="fashion-mnist",
              type=click.Choice(list(PRESETS)),
              help="Starting configuration.")
@click.option("--kimg", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Total training length in thousands of real images (fractional allowed).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Random seed.")
@click.option("--resume", default=None, metavar="latest|PATH",
              help="Continue a run: 'latest' under --outdir, a run folder, or a snapshot file.")
@click.option("--init-from", default=None, metavar="PATH",
              help="Fine-tune: start a new run (kimg 0, fresh optimizers) from the G, D and G_ema weights "
                   "of a snapshot, run folder or the authors' .pkl, at its full resolution without growing.")
@click.option("--snap", type=click.IntRange(min=1), default=None, help="Ticks between network snapshots.")
@click.option("--device", default=None, metavar="auto|cpu|cuda[:N]", help="Device (default auto).")
@click.option("--mirror/--no-mirror", default=None, help="Random horizontal flips of the reals.")
@click.option("--loss", default=None, type=click.Choice(["wgan-gp", "minimax", "non-saturating", "lsgan",
                                                         "hinge"]),
              help="GAN loss (default of the preset: wgan-gp).")
@click.option("--augment", default=None, type=click.Choice(["none", "ada", "diffaug"]),
              help="Augment every image D sees: adaptive (ADA) or DiffAugment; for small data sets "
                   "(tune with --set augment.FIELD=...).")
@click.option("--metrics", default=None, metavar="LIST", help="Metrics during training, e.g. swd,msssim.")
@click.option("--metrics-every", type=click.IntRange(min=0), default=None,
              help="Ticks between metric evaluations (0 = at snapshots).")
@click.option("--minutes", type=click.FloatRange(min=0), default=None,
              help="Training budget: the schedule is planned from each level's measured speed to reach "
                   "the final resolution, spend half the budget there (run.final_share) and end on time.")
@click.option("--max-minutes", type=click.FloatRange(min=0), default=None,
              help="Hard stop: a snapshot at the first tick past this many minutes.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.FIELD=VALUE",
              help="Override any configuration field, e.g. --set network.fmap_max=256 "
                   "--set schedule.minibatch=4:64,8:32.")
@click.option("--gpus", type=click.IntRange(min=1), default=1,
              help="Processes on this node (one per GPU; on CPU, gloo processes). "
                   "For several nodes use torchrun.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16", "auto"]), default=None,
              help="Autocast precision; the gradient penalty and loss reductions stay in fp32.")
@click.option("--batch-per-device", type=click.IntRange(min=0), default=None,
              help="Micro-batch for gradient accumulation when the per-rank batch does not fit (0: off).")
@click.option("--channels-last", is_flag=True, default=None, help="NHWC memory format.")
@click.option("--compile", "compile_", is_flag=True, default=None,
              help="torch.compile G and D (eager fallback).")
@click.option("--tf32", is_flag=True, default=None,
              help="TF32 matmuls and convolutions on Ampere+ GPUs (coarser).")
@click.option("--cudnn-benchmark", is_flag=True, default=None,
              help="Let cuDNN time convolution algorithms (faster; resume no longer bitwise).")
@click.option("--deterministic", is_flag=True, default=None,
              help="torch's deterministic algorithms: bitwise resume on GPUs too (an op without one stops).")
@click.option("--dry-run", is_flag=True, help="Print the resolved configuration as JSON and exit.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def command(data: str | None, outdir: str, preset: str, kimg: float | None, seed: int | None,
            resume: str | None, init_from: str | None, snap: int | None, device: str | None,
            mirror: bool | None, loss: str | None,
            augment: str | None, metrics: str | None, metrics_every: int | None, minutes: float | None,
            max_minutes: float | None, overrides: tuple[str, ...], gpus: int, precision: str | None,
            batch_per_device: int | None, channels_last: bool | None, compile_: bool | None,
            tf32: bool | None, cudnn_benchmark: bool | None, deterministic: bool | None, dry_run: bool,
            quiet: bool) -> None:
    """Train a progressive GAN (Karras et al. 2018); one command gives a working demo run on Fashion-MNIST."""
    assignments = list(overrides)
    named = {
        "run.data": data, "run.seed": seed, "run.snap": snap, "run.device": device, "run.mirror": mirror,
        "loss.kind": loss, "augment.kind": augment, "run.metrics": metrics,
        "run.metrics_every": metrics_every, "schedule.total_kimg": kimg, "run.max_minutes": max_minutes,
        "run.minutes": minutes,
        "compute.precision": precision, "compute.batch_per_device": batch_per_device,
        "compute.channels_last": channels_last, "compute.compile": compile_, "compute.tf32": tf32,
        "compute.cudnn_benchmark": cudnn_benchmark, "compute.deterministic": deterministic,
    }
    assignments += [f"{key}={value}" for key, value in named.items() if value is not None]
    if resume and not dry_run:
        assignments.append(f"run.resume={resume}")
    assignments.append(f"run.outdir={outdir}")
    if resume and init_from:
        raise UserError("--resume continues a run and --init-from starts a new one: pick one")
    cfg = _resolve_config(preset, resume, outdir, assignments, init_from)
    if cfg.run.metrics:
        from progan.metrics import METRICS

        unknown = [m for m in cfg.run.metrics if m not in METRICS]
        if unknown:
            raise UserError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
    cfg.validate()
    if dry_run:
        from progan.config_io import to_dict

        click.echo(json.dumps(to_dict(cfg), indent=2))
        return
    from progan.training.launch import LaunchError, launch
    from progan.training.loop import TrainingError, train

    progress = not quiet and sys.stderr.isatty()
    try:
        run_dir = launch(cfg, gpus, progress=progress) if gpus > 1 else train(cfg, progress=progress)
    except (TrainingError, LaunchError) as e:
        click.echo(f"progan train: error: {e}", err=True)
        sys.exit(1)
    except Exception as e:
        from progan.training.distributed import peer_failure

        lost = peer_failure(e)
        if lost is None:
            raise
        # Another node's process went away (torchrun, several nodes): this one stops too, with one line.
        click.echo(f"progan train: error: lost contact with another process ({lost}); stopped. Snapshots are "
                   "written atomically, so --resume latest continues from the last one", err=True)
        sys.exit(1)
    click.echo(f"done: {run_dir}")
