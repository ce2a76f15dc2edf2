"""``progan truncation-sweep``: validate options, then :mod:`progan.sampling.truncation_sweep`."""

from __future__ import annotations

from pathlib import Path

import click

from progan.errors import UserError


@click.command("truncation-sweep", context_settings={"show_default": True})
@click.option("--network", required=True, type=click.Path(exists=True, path_type=Path), metavar="CKPT",
              help="A network-snapshot-*.safetensors file, a run folder (its newest snapshot), "
                   "or a .pkl of the authors' releases.")
@click.option("--data", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Prepared data set. Default: the run's training_options.json.")
@click.option("--metrics", "metric_list", default="swd,msssim", metavar="LIST",
              help="Comma-separated metrics of `progan metrics` "
                   "(e.g. swd,msssim or fid,pr,cas with --features).")
@click.option("--thresholds", default="0.25,0.5,0.75,1,1.25,1.5,2,none", metavar="LIST",
              help="Truncation thresholds; 'none' = untruncated normal latents.")
@click.option("--num", type=click.IntRange(min=2), default=2048,
              help="Generated images per threshold (and as many reals).")
@click.option("--features", "features_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None,
              help="Classifier file (progan classifier train) for fid/kid/pr/cas on its features.")
@click.option("--standing-stats", type=click.IntRange(min=0), default=0,
              help="Batch-norm G: recompute BN statistics from this many batches at each threshold "
                   "(0: keep).")
@click.option("--out", "outdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for truncation_sweep.json / .png. Default: beside the snapshot.")
@click.option("--seed", type=click.IntRange(min=0), default=0,
              help="Seed of latents, labels and real subsets.")
@click.option("--device", default="auto", metavar="auto|cpu|cuda[:N]", help="Device.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64,
              help="Images per generator/feature batch.")
def command(network: Path, data: Path | None, metric_list: str, thresholds: str, num: int,
            features_path: Path | None, standing_stats: int, outdir: Path | None, seed: int, device: str,
            batch_size: int) -> None:
    """Fidelity/variety against the truncation threshold (BigGAN's truncation trick): JSON + plot."""
    import progan
    from progan.device import resolve_device
    from progan.metrics.registry import check_metric_names
    from progan.metrics.report import data_of_run
    from progan.sampling.truncation_sweep import parse_thresholds, plot_sweep, truncation_sweep, write_sweep

    names = check_metric_names(metric_list.split(","))
    ts = parse_thresholds(thresholds)
    run_dir = network if network.is_dir() else network.parent
    if data is None:
        data = data_of_run(run_dir)
        if data is None or not Path(data).is_dir():
            raise UserError("--data is required: no usable data path in a training_options.json "
                            f"beside {network}")
    try:
        dev = resolve_device(device)
    except RuntimeError:
        raise UserError(f"--device {device!r} is not a device; use auto, cpu or cuda[:N]") from None
    G = progan.load_generator(str(network), device=dev)
    points = truncation_sweep(G, data, names, thresholds=ts, num_images=num, seed=seed, device=dev,
                              standing_stats=standing_stats,
                              evaluate_kwargs={"features_path": features_path, "batch_size": batch_size},
                              echo=click.echo)
    out = Path(outdir) if outdir is not None else run_dir
    meta = {"network": str(network), "data": str(data), "metrics": names, "num_images": num, "seed": seed,
            "standing_stats": standing_stats}
    js = write_sweep(points, out / "truncation_sweep.json", meta)
    png = plot_sweep(points, out / "truncation_sweep.png", title=f"{network.name}: {', '.join(names)}")
    click.echo(f"wrote {js} and {png}")
