"""Exported generators (ONNX via onnxruntime, TorchScript via torch.jit.load) equal PyTorch's output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import progan
from progan.errors import UserError
from progan.sampling.export import export, export_generator, resolve_format, run_exported

ATOL = 1e-5


def _reference(ckpt: Path, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    G = progan.load_generator(str(ckpt))
    with torch.no_grad():
        return G(torch.from_numpy(z), None if labels is None else torch.from_numpy(labels)).numpy()


@pytest.mark.parametrize("fmt,suffix", [("onnx", ".onnx"), ("torchscript", ".pt")])
@pytest.mark.parametrize("conditional", [False, True])
def test_export_matches_pytorch_at_other_batch_sizes(fmt: str, suffix: str, conditional: bool,
                                                     uncond_ckpt: Path, cond_ckpt: Path,
                                                     tmp_path: Path) -> None:
    if fmt == "onnx":
        pytest.importorskip("onnx")
        pytest.importorskip("onnxruntime")
    ckpt = cond_ckpt if conditional else uncond_ckpt
    path, diff = export(ckpt, tmp_path / f"g{suffix}", fmt)
    assert diff is not None and diff <= 1e-4
    # A batch size the export never saw (the batch axis is dynamic), fresh latents and labels.
    z = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)
    labels = np.array([2, 0, 1, 1, 2], np.int64) if conditional else None
    got = run_exported(path, z, labels)
    ref = _reference(ckpt, z, labels)
    assert got.shape == ref.shape == ((5, 1, 8, 8) if conditional else (5, 3, 16, 16))
    np.testing.assert_allclose(got, ref, atol=ATOL, rtol=0)


def test_format_from_suffix_and_errors(uncond_ckpt: Path, tmp_path: Path) -> None:
    assert resolve_format(None, "a.onnx") == "onnx" and resolve_format(None, "a.pt") == "torchscript"
    with pytest.raises(UserError, match="suffix"):
        resolve_format(None, "a.bin")
    with pytest.raises(UserError, match="must end in .onnx"):
        resolve_format("onnx", "a.pt")
    with pytest.raises(UserError, match="does not exist"):
        export(uncond_ckpt, tmp_path / "no" / "g.pt")


def test_export_a_generator_at_a_lower_lod(uncond_ckpt: Path, tmp_path: Path) -> None:
    G = progan.load_generator(str(uncond_ckpt))
    G.lod = 1.5  # mid fade-in at 8x8
    path = export_generator(G, tmp_path / "g.pt", "torchscript")
    z = np.random.default_rng(2).standard_normal((2, 16)).astype(np.float32)
    with torch.no_grad():
        ref = G(torch.from_numpy(z)).numpy()
    got = run_exported(path, z)
    assert got.shape == (2, 3, 8, 8)
    np.testing.assert_allclose(got, ref, atol=ATOL, rtol=0)
