"""``progan training-video``: a run's fakes grids as a labelled video.

See :mod:`progan.sampling.training_video`.
"""

from __future__ import annotations

from pathlib import Path

import click

from progan.sampling._cli import fps_option


@click.command("training-video")
@click.argument("run_dir", type=click.Path(path_type=Path), metavar="RUNDIR")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output video, .mp4 or .gif.")
@fps_option(10.0)
def command(run_dir: Path, out: Path, fps: float) -> None:
    """Show how a run's samples evolved: every fakes<kimg>.png, labelled with kimg and resolution."""
    from progan.sampling.training_video import fakes_of_run, training_video
    from progan.sampling.video import check_video_path

    check_video_path(out)
    grids = fakes_of_run(run_dir)
    path = training_video(run_dir, out, fps=fps)
    click.echo(f"wrote {path} ({len(grids)} frames)")
