"""The sampling jobs work with any generator with the common interface: here BigGAN's (conditional BN,
spectral norm, hierarchical latents), which does not normalise its latents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import progan
from progan.images import to_uint8
from progan.sampling.export import baked_copy, export, run_exported
from progan.sampling.generate import generate_images
from progan.sampling.interpolate import interpolation_latents, render_frames
from progan.sampling.project import ProjectConfig, project


@pytest.fixture(scope="module")
def G(biggan_ckpt: Path) -> torch.nn.Module:
    return progan.load_generator(str(biggan_ckpt))


def test_biggan_seeds_are_batch_independent(G: torch.nn.Module) -> None:
    assert (G.z_dim, G.num_classes, G.output_resolution) == (24, 3, 16)
    a = to_uint8(generate_images(G, range(6), classes=[2, 0, 1, 1, 0, 2], batch_size=6))
    b = to_uint8(generate_images(G, [3], classes=[1], batch_size=1))
    assert torch.equal(a[3:4], b)


def test_biggan_interpolation_endpoints(G: torch.nn.Module) -> None:
    frames = list(render_frames(G, interpolation_latents([1, 2], 5, 24), torch.tensor([1])))
    ends = to_uint8(generate_images(G, [1, 2], classes=[1])).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(frames[0], ends[0]) and np.array_equal(frames[-1], ends[1])


@pytest.mark.parametrize("suffix", [".onnx", ".pt"])
def test_biggan_export_matches(G: torch.nn.Module, biggan_ckpt: Path, tmp_path: Path, suffix: str) -> None:
    if suffix == ".onnx":
        pytest.importorskip("onnxruntime")
    path, diff = export(biggan_ckpt, tmp_path / f"g{suffix}")
    assert diff is not None and diff <= 1e-4
    z = np.random.default_rng(0).standard_normal((4, 24)).astype(np.float32)
    labels = np.array([0, 1, 2, 1], np.int64)
    with torch.no_grad():
        ref = G(torch.from_numpy(z), torch.from_numpy(labels)).numpy()
    np.testing.assert_allclose(run_exported(path, z, labels), ref, atol=1e-5, rtol=0)


def test_baked_copy_has_plain_weights_and_leaves_g_alone(G: torch.nn.Module) -> None:
    from torch.nn.utils import parametrize

    z, labels = torch.randn(3, 24), torch.tensor([0, 1, 2])
    baked = baked_copy(G)
    assert any(parametrize.is_parametrized(m) for m in G.modules())
    assert not any(parametrize.is_parametrized(m) for m in baked.modules())
    with torch.no_grad():
        torch.testing.assert_close(baked(z, labels), G(z, labels), rtol=0, atol=1e-6)


def test_biggan_projection_recovers_own_image(G: torch.nn.Module) -> None:
    target = to_uint8(generate_images(G, [7], classes=[2]))[0].numpy()
    result = project(G, target, class_=2, config=ProjectConfig(steps=150, restarts=4))
    assert result.psnr > 30.0, result.psnr
