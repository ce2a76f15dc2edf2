"""Projection recovers the generator's own images; inpainting keeps known pixels; files on disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import progan
from progan.errors import UserError
from progan.images import to_uint8
from progan.sampling.generate import generate_images
from progan.sampling.project import (
    ProjectConfig,
    box_band_pyramid,
    load_mask,
    load_target,
    project,
    project_image,
    projection_loss,
    psnr,
)
from progan.sampling.video import read_video

# A 16x16 RGB image the generator made itself is recovered to at least this PSNR (measured: 60-63 dB
# for seeds 1-5 and 123 with 150 steps x 4 restarts; unrelated seeds' images score 14-15 dB against it).
RECOVERY_PSNR_DB = 40.0
FAST = ProjectConfig(steps=150, restarts=4)


@pytest.fixture(scope="module")
def G(uncond_ckpt: Path) -> torch.nn.Module:
    return progan.load_generator(str(uncond_ckpt))


def _own_image(G: torch.nn.Module, seed: int) -> np.ndarray:
    return to_uint8(generate_images(G, [seed]))[0].numpy()


def test_laplacian_pyramid_bands_sum_back_to_the_image() -> None:
    x = torch.randn(2, 3, 16, 16)
    bands = box_band_pyramid(x, 3)
    assert [b.shape[-1] for b in bands] == [16, 8, 4, 2]
    rebuilt = bands[-1]
    for band in reversed(bands[:-1]):
        rebuilt = band + torch.nn.functional.interpolate(rebuilt, scale_factor=2, mode="bilinear",
                                                         align_corners=False)
    torch.testing.assert_close(rebuilt, x)


def test_projection_loss_reference_and_mask() -> None:
    a, b = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    assert projection_loss(a, a, None).item() == 0.0
    torch.testing.assert_close(projection_loss(a, b, None, lap_weight=0)[0], ((a - b) ** 2).mean())
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1
    c = b.clone()
    c[..., 4:] = 5.0  # differences only in the unknown half are invisible to the loss
    torch.testing.assert_close(projection_loss(a, c, mask), projection_loss(a, b, mask))


def test_projection_loss_ignores_values_clipped_to_the_target_bound() -> None:
    target = torch.tensor([-1.0, 1.0, 0.0, -1.0]).view(1, 1, 2, 2)
    images = torch.tensor([-3.0, 2.0, 0.0, -0.5]).view(1, 1, 2, 2)
    # Only the last pixel counts: -3 and 2 clip to the target's -1 and 1.
    assert projection_loss(images, target, None, lap_weight=0).item() == pytest.approx(0.25 / 4)
    assert projection_loss(images[..., :1, :], target[..., :1, :], None).item() == 0.0


def test_psnr_reference() -> None:
    a = np.zeros((1, 4, 4), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 16  # mse = 256 / 16 = 16
    assert psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / 16))
    assert psnr(a, a) == float("inf")


def test_projection_recovers_own_image(G: torch.nn.Module) -> None:
    target = _own_image(G, 123)
    result = project(G, target, config=FAST)
    assert result.psnr > RECOVERY_PSNR_DB, result.psnr
    assert psnr(_own_image(G, 5), target) < 25.0   # the threshold means something
    # The latent reproduces the image it reports.
    assert np.array_equal(to_uint8(G(result.z))[0].numpy(), to_uint8(result.image)[0].numpy())


def test_inpainting_keeps_known_pixels_and_fills_the_hole(G: torch.nn.Module) -> None:
    target = _own_image(G, 77)
    mask = np.ones((16, 16), bool)
    mask[4:12, 3:13] = False
    result = project(G, target, mask, config=FAST)
    assert np.array_equal(result.blended[:, mask], target[:, mask])
    generated = to_uint8(result.image)[0].numpy()
    assert np.array_equal(result.blended[:, ~mask], generated[:, ~mask])
    # The hole is filled with the generator's content, close to what was there (the image is G's own).
    assert psnr(result.blended, target, ~mask) > 30.0


def test_project_image_writes_all_outputs(G: torch.nn.Module, tmp_path: Path) -> None:
    target = _own_image(G, 9)
    # A larger, non-square target: centre-cropped and resized to G's 16x16.
    big = np.asarray(Image.fromarray(target.transpose(1, 2, 0)).resize((64, 64), Image.Resampling.NEAREST))
    Image.fromarray(np.pad(big, ((0, 0), (8, 8), (0, 0)))).save(tmp_path / "t.png")
    mask = np.full((64, 64), 255, np.uint8)
    mask[20:40, 20:40] = 0
    Image.fromarray(mask).save(tmp_path / "m.png")
    out = tmp_path / "out"
    result = project_image(G, tmp_path / "t.png", out, mask_path=tmp_path / "m.png",
                           config=ProjectConfig(steps=12, restarts=2, frames=5), progress=False)
    names = {p.name for p in out.iterdir()}
    assert {"target.png", "projected.png", "blended.png", "latent.npy", "progress.mp4",
            "projection.json"} <= names
    loaded = load_target(tmp_path / "t.png", 16, 3)
    assert np.array_equal(np.asarray(Image.open(out / "target.png")).transpose(2, 0, 1), loaded)
    known = load_mask(tmp_path / "m.png", 16)
    assert known.sum() == 16 * 16 - 5 * 5
    blended = np.asarray(Image.open(out / "blended.png")).transpose(2, 0, 1)
    assert np.array_equal(blended[:, known], loaded[:, known])
    z = np.load(out / "latent.npy", allow_pickle=False)
    assert z.shape == (1, 16) and np.array_equal(z, result.z.numpy())
    video = read_video(out / "progress.mp4")
    assert video.shape == (6, 16 * 8, 3 * 16 * 8, 3)   # 5 recorded + the final frame; 3 tiles, 8x upscaled
    info = json.loads((out / "projection.json").read_text())
    assert info["psnr_db"] == pytest.approx(result.psnr)


def test_projection_input_errors(G: torch.nn.Module, cond_ckpt: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="not a readable image"):
        load_target(tmp_path / "bad.png", 16, 3)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "black.png")
    with pytest.raises(UserError, match="no known"):
        load_mask(tmp_path / "black.png", 16)
    Gc = progan.load_generator(str(cond_ckpt))
    with pytest.raises(UserError, match="--class"):
        project(Gc, np.zeros((1, 8, 8), np.uint8), config=ProjectConfig(steps=1))
    r = project(Gc, np.zeros((1, 8, 8), np.uint8), class_=1, config=ProjectConfig(steps=3, restarts=1))
    assert r.z.shape == (1, 16)
