"""progan generate: seed determinism, truncation, grids, npz, conditional rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import progan
from progan.images import to_uint8
from progan.sampling.generate import generate, generate_images, grid_pages
from progan.sampling.latents import latents_for_seeds


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_same_seed_same_image_in_any_batch_size(uncond_ckpt: Path) -> None:
    G = progan.load_generator(str(uncond_ckpt))
    seeds = list(range(10, 23))
    a = to_uint8(generate_images(G, seeds, batch_size=13))
    b = to_uint8(generate_images(G, seeds, batch_size=4))
    c = to_uint8(generate_images(G, [seeds[7]], batch_size=1))
    assert a.shape == (13, 3, 16, 16)
    assert torch.equal(a, b)
    assert torch.equal(a[7:8], c)
    # And it is G of the seed's own generator draw.
    z = torch.randn(16, generator=torch.Generator().manual_seed(17))[None]
    assert torch.equal(to_uint8(G(z)), a[7:8])


def test_truncation_changes_images_and_latents(uncond_ckpt: Path) -> None:
    G = progan.load_generator(str(uncond_ckpt))
    plain = generate_images(G, range(8))
    trunc = generate_images(G, range(8), truncation=0.3)
    assert not torch.equal(plain, trunc)
    assert latents_for_seeds(range(8), 16, truncation=0.3).abs().max() <= 0.3


def test_generate_writes_one_png_per_seed_equal_to_the_library(uncond_ckpt: Path, tmp_path: Path) -> None:
    paths = generate(uncond_ckpt, [3, 1, 4], tmp_path, batch_size=2, npz=True, progress=False)
    assert [p.name for p in paths] == ["seed0003.png", "seed0001.png", "seed0004.png", "images.npz"]
    G = progan.load_generator(str(uncond_ckpt))
    ref = to_uint8(generate_images(G, [3, 1, 4])).numpy().transpose(0, 2, 3, 1)
    for i, p in enumerate(paths[:3]):
        assert np.array_equal(_png(p), ref[i])
    with np.load(tmp_path / "images.npz", allow_pickle=False) as d:
        assert d["images"].shape == (3, 3, 16, 16) and d["images"].dtype == np.float32
        assert d["seeds"].tolist() == [3, 1, 4] and d["labels"].tolist() == [-1, -1, -1]
        np.testing.assert_array_equal(to_uint8(torch.from_numpy(d["images"])).numpy().transpose(0, 2, 3, 1),
                                      ref)


def test_grid_pages_cut_seeds_and_classes() -> None:
    imgs = np.arange(3 * 5, dtype=np.uint8).reshape(3, 5, 1, 1, 1).repeat(2, 3).repeat(2, 4)
    pages = grid_pages(imgs, cols=4, rows=2, conditional=True)
    # classes {0,1} x seeds {0-3}, {0,1} x {4}, {2} x {0-3}, {2} x {4}
    assert [p.shape for p in pages] == [(4, 8), (4, 2), (2, 8), (2, 2)]
    assert pages[0][2, 0] == 5 and pages[0][0, 6] == 3  # row = class 1, seed 0; col 3 = seed 3
    flat = grid_pages(imgs[:1], cols=2, rows=2, conditional=False)
    assert [p.shape for p in flat] == [(4, 4), (2, 4)]


def test_conditional_grid_has_one_row_per_class(cond_ckpt: Path, tmp_path: Path) -> None:
    paths = generate(cond_ckpt, [0, 1, 2, 3], tmp_path, grid=(4, 3), progress=False)
    assert [p.name for p in paths] == ["grid000.png"]
    grid = _png(paths[0])
    assert grid.shape == (3 * 8, 4 * 8)  # lod 1: 8x8 output, grey
    G = progan.load_generator(str(cond_ckpt))
    for c in range(3):
        row = to_uint8(generate_images(G, [0, 1, 2, 3], classes=[c])).numpy()
        assert np.array_equal(grid[c * 8:(c + 1) * 8], np.concatenate(list(row[:, 0]), axis=1))


def test_conditional_per_seed_files_name_the_class(cond_ckpt: Path, tmp_path: Path) -> None:
    paths = generate(cond_ckpt, [5], tmp_path, classes=[2, 0], progress=False)
    assert [p.name for p in paths] == ["seed0005-class002.png", "seed0005-class000.png"]
    assert not np.array_equal(_png(paths[0]), _png(paths[1]))


def test_generate_accepts_a_module_directly(uncond_ckpt: Path, tmp_path: Path) -> None:
    G = progan.load_generator(str(uncond_ckpt))
    (p,) = generate(G, [0], tmp_path, progress=False)
    assert _png(p).shape == (16, 16, 3)


@pytest.mark.parametrize("batch", [1, 3])
def test_generate_output_is_independent_of_batch(uncond_ckpt: Path, tmp_path: Path, batch: int) -> None:
    (p,) = generate(uncond_ckpt, [11], tmp_path / str(batch), batch_size=batch, progress=False)
    (q,) = generate(uncond_ckpt, [11], tmp_path / "ref", batch_size=7, progress=False)
    assert np.array_equal(_png(p), _png(q))
