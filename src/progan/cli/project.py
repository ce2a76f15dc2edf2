"""``progan project``: fit a latent to an image, or inpaint with a mask (:mod:`progan.sampling.project`)."""

from __future__ import annotations

from pathlib import Path

import click

from progan.sampling._cli import apply_threads, device_option, network_option, threads_option


@click.command("project")
@network_option
@click.option("--target", required=True, type=click.Path(path_type=Path), help="Image to reproduce "
              "(centre-cropped to a square and resized to the generator's resolution).")
@click.option("--mask", type=click.Path(path_type=Path), default=None,
              help="Inpainting mask: white = known pixels (kept exactly), black = region to fill.")
@click.option("--out", "outdir", required=True, type=click.Path(path_type=Path),
              help="Output folder (created).")
@click.option("--steps", type=click.IntRange(min=1), default=300, show_default=True, help="Adam steps.")
@click.option("--restarts", type=click.IntRange(min=1), default=4, show_default=True,
              help="Independent starting latents, optimised together; the best is kept.")
@click.option("--candidates", type=click.IntRange(min=0), default=64, show_default=True,
              help="Random latents scored first; the restarts begin at the best of them.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the starting latents.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.1, show_default=True,
              help="Peak learning rate.")
@click.option("--noise", "initial_noise", type=click.FloatRange(min=0), default=0.05, show_default=True,
              help="Initial latent noise (decays to 0 over the first 75% of the steps); 0 disables.")
@click.option("--lap-weight", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Weight of the Laplacian-pyramid L1 term beside the pixel L2.")
@click.option("--class", "class_", type=click.IntRange(min=0), default=None,
              help="Class (conditional networks).")
@device_option
@threads_option
def command(network: Path, target: Path, mask: Path | None, outdir: Path, steps: int, restarts: int,
            candidates: int, seed: int, lr: float, initial_noise: float, lap_weight: float,
            class_: int | None, device: str, threads: int | None) -> None:
    """Find the latent whose image best matches TARGET; with --mask, fill the masked region."""
    apply_threads(threads)
    from progan.device import resolve_device
    from progan.errors import UserError
    from progan.sampling._io import check_output_dir
    from progan.sampling.project import ProjectConfig, project_image

    for what, path in (("--target", target), ("--mask", mask)):
        if path is not None and not path.is_file():
            raise UserError(f"{what} {path} does not exist")
    cfg = ProjectConfig(steps=steps, restarts=restarts, candidates=candidates, seed=seed, lr=lr,
                        initial_noise=initial_noise, lap_weight=lap_weight)
    cfg.validate()
    check_output_dir(outdir)
    result = project_image(network, target, outdir, mask_path=mask, class_=class_, config=cfg,
                           device=resolve_device(device))
    click.echo(f"wrote {outdir}: loss {result.loss:.5f}, PSNR {result.psnr:.2f} dB"
               + (" on the known pixels" if mask is not None else "") + f", {result.seconds:.1f} s")
