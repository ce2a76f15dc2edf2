"""Interpolation: slerp/lerp formulas, exact endpoints, the smoothed walk, videos read back."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

import progan
from progan.errors import UserError
from progan.images import to_uint8
from progan.sampling.generate import generate_images
from progan.sampling.interpolate import (
    interpolate,
    interpolation_latents,
    keyframe_path,
    random_walk,
    render_frames,
    slerp,
)
from progan.sampling.latents import latents_for_seeds
from progan.sampling.video import read_video, write_video


def test_slerp_matches_the_reference_formula() -> None:
    a, b = torch.randn(4, 8, dtype=torch.float64), torch.randn(4, 8, dtype=torch.float64)
    t = torch.tensor([[0.3]], dtype=torch.float64)
    # Reference on unit vectors: sin((1-t)w)/sin w a + sin(tw)/sin w b, norms interpolated linearly.
    ua, ub = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    w = torch.acos((ua * ub).sum(1, keepdim=True))
    ref = (torch.sin(0.7 * w) * ua + torch.sin(0.3 * w) * ub) / torch.sin(w)
    ref = ref * (0.7 * a.norm(dim=1, keepdim=True) + 0.3 * b.norm(dim=1, keepdim=True))
    torch.testing.assert_close(slerp(a, b, t), ref)
    # Unit vectors stay on the sphere all the way.
    ts = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None]
    path = slerp(ua[:1].expand(11, 8), ub[:1].expand(11, 8), ts)
    torch.testing.assert_close(path.norm(dim=1), torch.ones(11, dtype=torch.float64))


def test_keyframe_path_hits_keys_exactly() -> None:
    keys = latents_for_seeds([1, 2, 3], 16)
    path = keyframe_path(keys, 9, "slerp")   # (9 - 1) divisible by 2 segments: keys at frames 0, 4, 8
    assert torch.equal(path[0], keys[0]) and torch.equal(path[4], keys[1]) and torch.equal(path[8], keys[2])
    lin = keyframe_path(keys, 5, "lerp")
    torch.testing.assert_close(lin[1], (keys[0] + keys[1]) / 2)


def test_random_walk_is_the_smoothed_normalised_noise() -> None:
    z = random_walk(50, 16, seed=3, sigma_frames=4.0)
    noise = torch.randn(50, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64).numpy()
    ref = gaussian_filter1d(noise, 4.0, axis=0, mode="wrap")
    ref = ref * math.sqrt(16) / np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(z.numpy(), ref, rtol=1e-5, atol=1e-6)
    # Smooth: neighbouring frames are much closer than independent latents.
    step = (z[1:] - z[:-1]).norm(dim=1).mean()
    assert step < 0.25 * (z[None] - z[:, None]).norm(dim=-1).mean()
    # Wrapping: the last frame is as close to the first as any two neighbours.
    assert (z[0] - z[-1]).norm() < 2 * step


def test_interpolation_option_errors() -> None:
    with pytest.raises(UserError, match="multiple of 2"):
        interpolation_latents([0, 1, 2], 10, 8, cells=2)
    with pytest.raises(UserError, match="walk"):
        interpolation_latents([0, 1, 2], 10, 8, mode="walk", cells=2)
    with pytest.raises(UserError, match="mode"):
        interpolation_latents([0, 1], 10, 8, mode="spiral")


def test_slerp_video_frames_count_size_and_endpoints(uncond_ckpt: Path, tmp_path: Path) -> None:
    out = interpolate(uncond_ckpt, tmp_path / "a.mp4", seeds=[4, 9, 2], frames=13, fps=10, progress=False)
    video = read_video(out)
    assert video.shape == (13, 16, 16, 3)
    # The frames written are the seed images exactly at both ends (H.264 itself is lossy, so the
    # check is on the frames handed to the encoder).
    G = progan.load_generator(str(uncond_ckpt))
    frames = list(render_frames(G, interpolation_latents([4, 9, 2], 13, 16), batch_size=5))
    seeds_u8 = to_uint8(generate_images(G, [4, 9, 2])).permute(0, 2, 3, 1).numpy()
    assert len(frames) == 13
    assert np.array_equal(frames[0], seeds_u8[0]) and np.array_equal(frames[-1], seeds_u8[2])
    assert np.array_equal(frames[6], seeds_u8[1])  # 12 steps over 2 segments: the middle key is frame 6
    assert not np.array_equal(frames[1], frames[0])


def test_walk_gif_grid_size(cond_ckpt: Path, tmp_path: Path) -> None:
    out = interpolate(cond_ckpt, tmp_path / "w.mp4", mode="walk", seeds=[0], frames=6, fps=5, grid=(3, 2),
                      class_=1, smoothing_sec=0.2, progress=False)
    assert read_video(out).shape == (6, 2 * 8, 3 * 8, 3)


def test_gif_frames_and_size(tmp_path: Path) -> None:
    frames = [np.full((10, 14), 20 * i, np.uint8) for i in range(7)]
    out = write_video(frames, tmp_path / "x.gif", fps=5)
    back = read_video(out)
    assert back.shape == (7, 10, 14, 3)
    assert np.array_equal(back[:, :, :, 0], np.stack(frames))   # GIF is lossless for grey levels


def test_mp4_odd_sizes_are_padded_not_scaled(tmp_path: Path) -> None:
    frames = [np.full((9, 15, 3), 40 * i, np.uint8) for i in range(4)]
    assert read_video(write_video(frames, tmp_path / "odd.mp4", fps=4)).shape == (4, 10, 16, 3)
