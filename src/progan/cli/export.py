"""``progan export``: the generator as ONNX or TorchScript (see :mod:`progan.sampling.export`)."""

from __future__ import annotations

from pathlib import Path

import click

from progan.sampling._cli import network_option


@click.command("export")
@network_option
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), default=None,
              help="onnx (.onnx; needs the onnx package) or torchscript (.pt). "
                   "Default: from the suffix of --out.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output file.")
@click.option("--no-verify", is_flag=True, help="Skip comparing the export's output with PyTorch's.")
def command(network: Path, fmt: str | None, out: Path, no_verify: bool) -> None:
    """Export the generator at its level of detail: inputs z [N, z_dim] (+ labels [N] if conditional)."""
    from progan.sampling._io import check_output_file
    from progan.sampling.export import export, resolve_format

    fmt = resolve_format(fmt, check_output_file(out))
    path, diff = export(network, out, fmt, verify=not no_verify)
    click.echo(f"wrote {path}" + ("" if diff is None else f" (max |export - PyTorch| = {diff:.1e})"))
