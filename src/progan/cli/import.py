# ruff: noqa: N999  (the module name is the command name: cli/<name>.py = `progan <name>`)
"""``progan import``: the authors' pre-trained network pickles as progan snapshots (see
:mod:`progan.importers`)."""

from __future__ import annotations

from pathlib import Path

import click

from progan.errors import UserError


@click.command("import")
@click.argument("pkl", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", required=False, type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def command(pkl: Path, out: Path | None, force: bool) -> None:
    """Convert PKL, a network pickle of Karras et al.'s TF release (karras2018iclr-*.pkl) or of their
    Theano release, to OUT (default: PKL with the suffix .safetensors), a progan snapshot: G, D and
    G_ema (the release's averaged Gs). Nothing in the pickle is executed.

    Every command that takes --network works on OUT (or on PKL directly); the snapshot has no
    training state, so it cannot be resumed.
    """
    from progan.importers import is_pickle_path, read_pickle
    from progan.sampling._io import check_output_file
    from progan.training.checkpoint import save_imported

    if not is_pickle_path(pkl):
        raise UserError(f"{pkl}: expected a .pkl file of the authors' releases")
    out = check_output_file(out if out is not None else pkl.with_suffix(".safetensors"), [".safetensors"])
    if out.exists() and not force:
        raise UserError(f"{out} exists; pass --force to overwrite it")
    imported = read_pickle(pkl)
    path = save_imported(imported, out)
    cfg = imported.config
    classes = f"{cfg.num_classes} classes (AC-GAN)" if cfg.num_classes else "unconditional"
    click.echo(f"wrote {path}: {imported.source['format']} network, {cfg.resolution}x{cfg.resolution}, "
               f"{cfg.channels} channel(s), {classes}, latent {cfg.latent_size}, "
               f"fmap {cfg.fmap_base}/{cfg.fmap_max}, fused_scale={cfg.fused_scale}, "
               f"minibatch-stddev group {cfg.mbstd_group_size}, lod {imported.lod:g}")
