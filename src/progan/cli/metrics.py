"""``progan metrics``: validate options, then :func:`progan.metrics.report.run_metrics`."""

from __future__ import annotations

from pathlib import Path

import click

from progan.errors import UserError


def _device(name: str) -> str:
    from progan.device import resolve_device

    try:
        return str(resolve_device(name))
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a device; use auto, cpu or cuda[:N]") from None


@click.command("metrics", context_settings={"show_default": True})
@click.option("--network", type=click.Path(exists=True, path_type=Path), default=None,
              help="A network-snapshot-*.safetensors file, a run folder (every snapshot in it), "
                   "or a .pkl of the authors' releases.")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Prepared data set. Default: the run's training_options.json.")
@click.option("--metrics", "metric_list", required=True, metavar="LIST",
              help="Comma-separated: swd,msssim,fid,kid,is,pr,cas.")
@click.option("--num", type=click.IntRange(min=2), default=10_000,
              help="Generated images per metric (and as many reals). "
                   "Paper sizes: SWD 16384, MS-SSIM 20000, FID 50000.")
@click.option("--real-vs-real", is_flag=True,
              help="Also compare two disjoint halves of the reals (the noise floor), reported first.")
@click.option("--features", "features_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None,
              help="Classifier file (progan classifier train) whose features replace Inception's; "
                   "needed for cas.")
@click.option("--inception-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None,
              help="TF-Inception weights file (weights-inception-2015-12-05-6726825d.pth); "
                   "or set PROGAN_INCEPTION_WEIGHTS.")
@click.option("--truncation", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Redraw latent entries with |z| > T (truncation trick).")
@click.option("--seed", type=click.IntRange(min=0), default=0,
              help="Seed of latents, real subsets and metrics.")
@click.option("--device", default="auto", metavar="auto|cpu|cuda[:N]", help="Device.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64,
              help="Images per generator/feature batch.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Real-statistics cache. Default: <$PROGAN_CACHE or ~/.cache/progan>/metrics.")
def command(network: Path | None, data: Path | None, metric_list: str, num: int, real_vs_real: bool,
            features_path: Path | None, inception_weights: Path | None, truncation: float | None, seed: int,
            device: str, batch_size: int, cache_dir: Path | None) -> None:
    """Evaluate snapshots with the paper's SWD and MS-SSIM, FID/KID/IS, precision/recall, class accuracy."""
    from progan.metrics.registry import check_metric_names
    from progan.metrics.report import MetricsRun, data_of_run, run_metrics, snapshots_of

    names = check_metric_names(metric_list.split(","))
    if network is None and not real_vs_real:
        raise UserError("--network is required (a snapshot file or run folder), unless --real-vs-real")
    snapshots = snapshots_of(network) if network is not None else []
    if data is None and network is not None:
        data = data_of_run(network if network.is_dir() else network.parent)
        if data is None:
            raise UserError(f"--data is required: no training_options.json with a data path beside {network}")
        if not data.is_dir():
            raise UserError(f"the run's data set {data} does not exist; pass --data DIR")
    if data is None:
        raise UserError("--data is required with --real-vs-real")
    run = MetricsRun(network=network, data=data, metrics=names, num_images=num, seed=seed,
                     device=_device(device), batch_size=batch_size, truncation=truncation,
                     features_path=features_path,
                     inception_weights=inception_weights, cache_dir=cache_dir, real_vs_real=real_vs_real,
                     snapshots=snapshots)
    run_metrics(run, echo=click.echo)
