"""``progan explore``: a local web page on a run or a snapshot (see :mod:`progan.explore`)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("explore")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback lets other machines use the page.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True, help="TCP port.")
# Not progan.sampling._cli's device_option: importing progan.sampling imports torch, which the page does
# not need until it makes its first image (start-up time).
@click.option("--device", default="auto", show_default=True, metavar="auto|cpu|cuda[:N]",
              help="Device to run the generator on.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Largest image accepted for projection.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="CPU threads of torch per request (requests of several tabs run side by side; small "
                   "generators answer fastest on one thread when the CPU is busy).")
def command(path: Path, host: str, port: int, device: str, max_upload_mb: float, threads: int) -> None:
    """Open a web page on PATH (a run folder, a folder of runs, or a snapshot file): generate, interpolate,
    latent arithmetic, projection, and the live training curves. Needs pip install 'progan[explore]'."""
    from progan.explore.server import serve

    serve(path, host=host, port=port, device=device, max_upload_bytes=int(max_upload_mb * 2**20),
          threads=threads, echo=lambda line: click.echo(line, err=line.startswith("progan explore: warning")))
