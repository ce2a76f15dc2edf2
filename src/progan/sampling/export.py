"""Export the generator, frozen at its level of detail, to ONNX or TorchScript, so it runs without progan.

The exported graph takes ``z`` float32 ``[N, z_dim]`` (and, for a conditional G, ``labels`` int64
class indices ``[N]``) and returns ``images`` float32 ``[N, C, R, R]`` in [-1, 1]; the batch size
is dynamic. ONNX uses the TorchScript-based exporter (``dynamo=False``), which needs only the
``onnx`` package; the result is checked against PyTorch with onnxruntime when it is installed.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from progan.errors import UserError
from progan.sampling._io import check_output_file, load_network

__all__ = [
    "FORMATS", "FrozenGenerator", "baked_copy", "export", "export_generator", "resolve_format",
    "run_exported",
]

FORMATS = {"onnx": (".onnx",), "torchscript": (".pt", ".pth", ".ts", ".torchscript")}


class FrozenGenerator(nn.Module):
    """``G`` at a fixed lod with a plain signature: ``(z)`` or ``(z, labels)`` -> images."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        self.G = G
        self.conditional = int(getattr(G, "num_classes", 0) or 0) > 0

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        return self.G(z, labels) if self.conditional else self.G(z)


@torch.no_grad()
def baked_copy(G: nn.Module) -> nn.Module:
    """A copy of ``G`` (in eval mode) whose parametrized weights (spectral norm, ...) are plain parameters
    holding the values they give now. In eval mode spectral norm does no power iteration, so the output
    is unchanged; the exported graph then holds plain weights (ONNX has no operator for the sigma
    estimate). ``G`` itself is left as it was."""
    G = copy.deepcopy(G).eval()
    for module in list(G.modules()):
        if parametrize.is_parametrized(module):
            names = cast(nn.ModuleDict, module.parametrizations)  # parametrize's name -> parametrizations
            values = {name: getattr(module, name).detach().clone() for name in names}
            # parametrize swapped in a subclass shared by every copy: restore the module's own class
            # instead of remove_parametrizations(), which edits that shared class.
            module.__class__ = module.__class__.__bases__[0]
            del module._modules["parametrizations"]
            for name, value in values.items():
                module.register_parameter(name, nn.Parameter(value, requires_grad=False))
    return G


def _example_inputs(G: nn.Module, n: int = 2) -> tuple[Tensor, ...]:
    z = torch.randn(n, cast(int, G.z_dim), generator=torch.Generator().manual_seed(0))
    if int(getattr(G, "num_classes", 0) or 0) > 0:
        return z, torch.arange(n, dtype=torch.long) % cast(int, G.num_classes)
    return (z,)


def resolve_format(fmt: str | None, out: str | os.PathLike[str]) -> str:
    """``fmt``, or the format the suffix of ``out`` names when ``fmt`` is None; checked against the suffix."""
    out = Path(out)
    if fmt is None:
        found = [f for f, suffixes in FORMATS.items() if out.suffix.lower() in suffixes]
        if not found:
            raise UserError(f"{out}: cannot tell the format from the suffix; use .onnx or .pt, "
                            "or pass --format")
        fmt = found[0]
    _check_format(fmt, out)
    return fmt


def _check_format(fmt: str, out: Path) -> None:
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if out.suffix.lower() not in FORMATS[fmt]:
        raise UserError(f"{out}: a {fmt} export must end in {' or '.join(FORMATS[fmt])}")


def export_generator(G: nn.Module, out: str | os.PathLike[str], fmt: str, *, opset: int = 17) -> Path:
    """Write ``G`` (CPU, eval mode, at its current lod) to ``out`` as ``fmt`` ('onnx' or 'torchscript')."""
    path = check_output_file(out)
    _check_format(fmt, path)
    wrapper = FrozenGenerator(baked_copy(G)).cpu().eval()
    inputs = _example_inputs(G)
    names = ["z", "labels"][:len(inputs)]
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        # The shape checks in G's forward are constants for a given z_dim; the tracer's warning about them
        # is noise here (the batch axis stays dynamic). torch >= 2.9 marks TorchScript and the
        # TorchScript-based ONNX exporter deprecated; they remain the paths that need no extra packages.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            if fmt == "torchscript":
                traced = torch.jit.trace(wrapper, inputs, check_trace=False)
                meta = {"z_dim": cast(int, G.z_dim), "num_classes": int(getattr(G, "num_classes", 0) or 0),
                        "resolution": cast(int, G.output_resolution), "channels": cast(int, G.channels),
                        "inputs": names}
                torch.jit.save(traced, str(tmp), _extra_files={"progan.json": json.dumps(meta)})
            else:
                _export_onnx(wrapper, inputs, names, tmp, opset)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _export_onnx(
    wrapper: nn.Module, inputs: tuple[Tensor, ...], names: list[str], tmp: Path, opset: int
) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs it)
    except ImportError:
        raise UserError("ONNX export needs the onnx package: pip install 'progan[export]'") from None
    dynamic = {n: {0: "batch"} for n in names} | {"images": {0: "batch"}}
    torch.onnx.export(wrapper, inputs, str(tmp), input_names=names, output_names=["images"],
                      dynamic_axes=dynamic, opset_version=opset, dynamo=False)


def run_exported(path: str | os.PathLike[str], z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Run an exported generator without progan's networks (onnxruntime or ``torch.jit.load``)."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        try:
            import onnxruntime as ort  # optional: the progan[export] extra
        except ImportError:
            raise UserError("running an ONNX export needs onnxruntime: "
                            "pip install 'progan[export]'") from None
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {"z": z.astype(np.float32)}
        if labels is not None:
            feeds["labels"] = labels.astype(np.int64)
        return sess.run(["images"], feeds)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu")
    args = [torch.from_numpy(z.astype(np.float32))]
    if labels is not None:
        args.append(torch.from_numpy(labels.astype(np.int64)))
    with torch.no_grad():
        return module(*args).numpy()


def export(
    network: str | os.PathLike[str] | nn.Module,
    out: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    verify: bool = True,
    atol: float = 1e-4,
) -> tuple[Path, float | None]:
    """Export ``network``'s generator (format from the suffix when ``fmt`` is None) and, with ``verify``,
    compare the export's output with PyTorch on a batch of 3; returns the path and the largest
    absolute difference (None when not verified)."""
    path = check_output_file(out)
    fmt = resolve_format(fmt, path)
    G = load_network(network, "cpu")
    export_generator(G, path, fmt)
    if not verify:
        return path, None
    if fmt == "onnx":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return path, None
    inputs = _example_inputs(G, 3)
    with torch.no_grad():
        ref = FrozenGenerator(G).cpu().eval()(*inputs).numpy()
    got = run_exported(path, *[t.numpy() for t in inputs])
    diff = float(np.abs(got - ref).max())
    if not diff <= atol:
        raise UserError(f"the exported model differs from PyTorch by {diff:.2e} (> {atol}); "
                        "please report this")
    return path, diff
