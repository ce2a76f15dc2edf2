"""Training videos (labelled fakes grids) and latent arithmetic sheets."""

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
from progan.sampling.arithmetic import arithmetic, arithmetic_latent
from progan.sampling.latents import latents_for_seeds
from progan.sampling.training_video import fakes_of_run, training_video
from progan.sampling.video import read_video


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "00000-run"
    run.mkdir()
    # Out of order on disk, one smaller grid, grey and RGB mixed: the video must still be uniform.
    for kimg, size, value in [(240, 64, 200), (0, 64, 10), (120, 32, 100)]:
        Image.fromarray(np.full((size, size), value, np.uint8)).save(run / f"fakes{kimg:06d}.png")
    rows = [{"kimg": 0.0, "resolution": 4, "lod": 2.0}, {"kimg": 120.2, "resolution": 8, "lod": 1.4},
            {"kimg": 240.1, "resolution": 8, "lod": 1.0}]
    (run / "stats.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{cut")
    return run


def test_fakes_are_ordered_by_kimg_and_labelled(run_dir: Path) -> None:
    grids = fakes_of_run(run_dir)
    assert [g.kimg for g in grids] == [0, 120, 240]
    assert [g.label for g in grids] == ["0 kimg  4x4", "120 kimg  8x8 (fade-in)", "240 kimg  8x8"]


def test_training_video_frames_share_one_size_with_a_label_band(run_dir: Path, tmp_path: Path) -> None:
    out = training_video(run_dir, tmp_path / "t.mp4", fps=5, band_height=16, progress=False)
    video = read_video(out)
    assert video.shape == (3, 16 + 64, 64, 3)
    # Grid content below the band, in kimg order (H.264 is lossy: compare means).
    np.testing.assert_allclose(video[:, 24:, :, 0].reshape(3, -1).mean(1), [10, 100, 200], atol=4)
    band = video[:, :16].astype(float)
    assert band.max() > 150 and np.median(band) < 40   # white text on black


def test_training_video_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no fakes"):
        training_video(tmp_path, tmp_path / "t.mp4", progress=False)
    with pytest.raises(UserError, match="mp4"):
        training_video(tmp_path, tmp_path / "t.avi", progress=False)


def test_arithmetic_latent_reference() -> None:
    base, plus, minus = torch.randn(3, 8), torch.randn(2, 8), torch.randn(4, 8)
    ref = base.mean(0) + plus.mean(0) - minus.mean(0)
    torch.testing.assert_close(arithmetic_latent(base, plus, minus)[0], ref)


def test_arithmetic_sheet_contains_the_result_image(uncond_ckpt: Path, tmp_path: Path) -> None:
    res = arithmetic(uncond_ckpt, tmp_path / "sheet.png", base=[0, 1, 2], plus=[3, 4], minus=[5])
    G = progan.load_generator(str(uncond_ckpt))
    z = (latents_for_seeds([0, 1, 2], 16).mean(0) + latents_for_seeds([3, 4], 16).mean(0)
         - latents_for_seeds([5], 16)[0])
    z = z * (16 ** 0.5 / z.norm())          # G normalises latents: the result lives on the sphere
    torch.testing.assert_close(res.z[0], z)
    expected = to_uint8(G(z[None]))[0].numpy()
    assert np.array_equal(res.image, expected)
    sheet = np.asarray(Image.open(res.path))
    # The result row is the last 64 rows (16 px upscaled 4x); its first tile is the result image.
    tile = sheet[-64:, :64]
    assert np.array_equal(tile[::4, ::4], expected.transpose(1, 2, 0))


def test_arithmetic_conditional_needs_a_class(cond_ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="conditional"):
        arithmetic(cond_ckpt, tmp_path / "s.png", base=[0], plus=[1])
    res = arithmetic(cond_ckpt, tmp_path / "s.png", base=[0], plus=[1], class_=2)
    assert res.image.shape == (1, 8, 8)
