"""The training loader: order, values, fade blend, mirroring, sharding across ranks, bit-exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from progan.data import Loader, open_dataset, prepare
from progan.data.dataset import Dataset
from progan.data.loader import epoch_permutation
from progan.errors import UserError


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    root = tmp_path_factory.mktemp("src")
    rng = np.random.default_rng(0)
    for c in ("a", "b", "c"):
        (root / c).mkdir()
        for i in range(7):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return open_dataset(prepare(root, tmp_path_factory.mktemp("ds") / "out", progress=False))


def test_values_labels_and_epoch_order(ds: Dataset) -> None:
    loader = Loader(ds, seed=4)
    x, y = loader.next(21, 16)
    perm = epoch_permutation(4, 0, 21)
    assert x.dtype == torch.float32 and x.shape == (21, 3, 16, 16) and y.dtype == torch.int64
    ref = ds.images(16)[perm].astype(np.float32) / 127.5 - 1
    np.testing.assert_allclose(x.numpy(), ref, rtol=0, atol=2e-7)
    assert sorted(perm.tolist()) == list(range(21))  # one epoch = every image exactly once
    np.testing.assert_array_equal(y.numpy(), ds.labels[perm])
    assert loader.images_seen == 21 and loader.state_dict()["epoch"] == 1
    assert x.min() >= -1 and x.max() <= 1


def _uint8(x: torch.Tensor) -> np.ndarray:
    return np.rint((x.numpy().astype(np.float64) + 1) * 127.5).astype(np.uint8)


def test_batches_span_epoch_boundaries(ds: Dataset) -> None:
    loader = Loader(ds, seed=1)
    got = np.concatenate([_uint8(loader.next(8, 4)[0]) for _ in range(8)])  # 64 = 3 epochs + 1
    order = np.concatenate([epoch_permutation(1, e, 21) for e in range(4)])[:64]
    np.testing.assert_array_equal(got, ds.images(4)[order])


def test_fade_blend_matches_reference(ds: Dataset) -> None:
    alpha = 0.3
    x, _ = Loader(ds, seed=2).next(6, 8, alpha=alpha)
    full, _ = Loader(ds, seed=2).next(6, 8)
    cur = full.numpy().astype(np.float64)
    low = cur.reshape(6, 3, 4, 2, 4, 2).mean(axis=(3, 5))
    up = low.repeat(2, axis=2).repeat(2, axis=3)
    np.testing.assert_allclose(x.numpy(), up + (cur - up) * alpha, atol=1e-6)
    zero, _ = Loader(ds, seed=2).next(6, 8, alpha=0.0)  # alpha 0 = the lower level shown at this size
    np.testing.assert_allclose(zero.numpy(), up, atol=1e-6)
    stored = ds.images(4)[epoch_permutation(2, 0, 21)[:6]]  # the separately rounded 4x4 level
    assert np.abs(zero.numpy()[..., ::2, ::2] - (stored / 127.5 - 1)).max() <= 1 / 127.5 + 1e-6


def test_mirror_is_a_function_of_seed_and_position(ds: Dataset) -> None:
    plain = Loader(ds, seed=3)
    mirrored = Loader(ds, seed=3, mirror=True)
    flips = []
    for _ in range(10):
        a, b = _uint8(plain.next(7, 16)[0]), _uint8(mirrored.next(7, 16)[0])
        f = np.array([np.array_equal(bi, ai[..., ::-1]) and not np.array_equal(bi, ai)
                      for ai, bi in zip(a, b)])
        same = np.array([np.array_equal(ai, bi) for ai, bi in zip(a, b)])
        assert np.all(f ^ same)
        flips.append(f)
    rate = np.concatenate(flips).mean()
    assert 0.3 < rate < 0.7


@pytest.mark.parametrize("world", [2, 4])
def test_rank_shards_union_equals_single_process(ds: Dataset, world: int) -> None:
    single = Loader(ds, seed=5, mirror=True)
    ranks = [Loader(ds, seed=5, mirror=True, rank=r, world_size=world) for r in range(world)]
    for step in range(7):
        res, alpha = (8, 0.5) if step % 2 else (16, 1.0)
        x, y = single.next(8, res, alpha)
        parts = [loader.next(8, res, alpha) for loader in ranks]
        torch.testing.assert_close(torch.cat([p[0] for p in parts]), x, rtol=0, atol=0)
        torch.testing.assert_close(torch.cat([p[1] for p in parts]), y, rtol=0, atol=0)
        assert all(loader.images_seen == single.images_seen for loader in ranks)


def test_resume_is_bit_exact_even_with_other_world_size(ds: Dataset) -> None:
    ref = Loader(ds, seed=6, mirror=True)
    for _ in range(5):
        ref.next(4, 16)
    state = json.loads(json.dumps(ref.state_dict()))
    assert all(type(v) is int for v in state.values())
    expected = [ref.next(4, 16, 0.7) for _ in range(9)]
    resumed = Loader(ds, seed=999, mirror=True)
    resumed.load_state_dict(state)
    halves = [Loader(ds, seed=999, mirror=True, rank=r, world_size=2) for r in range(2)]
    for h in halves:
        h.load_state_dict(state)
    for x, y in expected:
        rx, ry = resumed.next(4, 16, 0.7)
        assert torch.equal(rx, x) and torch.equal(ry, y)
        assert torch.equal(torch.cat([h.next(4, 16, 0.7)[0] for h in halves]), x)


def test_loader_validation(ds: Dataset) -> None:
    with pytest.raises(UserError, match="multiple of the number of processes"):
        Loader(ds, rank=0, world_size=3).next(8, 16)
    with pytest.raises(UserError, match="rank"):
        Loader(ds, rank=2, world_size=2)
    with pytest.raises(UserError, match="alpha"):
        Loader(ds).next(4, 16, alpha=1.5)
    with pytest.raises(Exception, match="no 32x32 level"):
        Loader(ds).next(4, 32)
    other = Loader(ds).state_dict() | {"num_images": 5}
    with pytest.raises(UserError, match="same data set"):
        Loader(ds).load_state_dict(other)


def test_memory_mapped_not_loaded(ds: Dataset) -> None:
    assert isinstance(ds.images(16), np.memmap)
    assert isinstance(ds.labels, np.memmap)


def test_gather_reads_large_rows_like_the_memory_map(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    (tmp_path / "src").mkdir()
    for i in range(5):  # 128x128 RGB rows are 48 KiB: the pread path
        pixels = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "src" / f"{i}.png")
    big = open_dataset(prepare(tmp_path / "src", tmp_path / "ds", progress=False))
    rows = np.array([3, 0, 3, 4, 1])
    for res in (128, 64, 4):
        np.testing.assert_array_equal(big.gather(res, rows), big.images(res)[rows])
    big.close()


def test_accelerator_path_agrees_with_cpu_path() -> None:
    from progan.data.loader import to_float, to_float_torch

    batch = np.random.default_rng(2).integers(0, 256, (3, 2, 8, 8), dtype=np.uint8)
    for alpha in (1.0, 0.25, 0.0):
        on_torch = to_float_torch(torch.from_numpy(batch), alpha).numpy()
        np.testing.assert_allclose(on_torch, to_float(batch, alpha), atol=1e-6)


def test_dataset_pickles_as_a_reference_not_as_data(ds: Dataset) -> None:
    import pickle

    blob = pickle.dumps(ds)
    assert len(blob) < 4096
    clone = pickle.loads(blob)
    np.testing.assert_array_equal(clone.images(8), ds.images(8))
    assert isinstance(clone.images(8), np.memmap)


def test_prefetch_gives_the_same_batches(ds: Dataset) -> None:
    plain = Loader(ds, seed=8, mirror=True)
    ahead = Loader(ds, seed=8, mirror=True, prefetch=True)
    calls = [(6, 16, 1.0)] * 3 + [(6, 8, 0.4)] * 2 + [(4, 8, 1.0), (6, 16, 1.0)]
    for i, args in enumerate(calls):
        if i == 5:  # resuming discards what was prepared ahead
            state = plain.state_dict()
            ahead.load_state_dict(state)
        x, y = plain.next(*args)
        ax, ay = ahead.next(*args)
        assert torch.equal(x, ax) and torch.equal(y, ay)
    assert ahead.images_seen == plain.images_seen


def test_prefetch_survives_an_alpha_that_changes_every_step(ds: Dataset,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """During a fade-in alpha moves every step; the batch prepared ahead is keyed on position, not alpha."""
    ahead = Loader(ds, seed=8, prefetch=True)
    plain = Loader(ds, seed=8)
    built = []
    real_build = Loader._build

    def build(self: Loader, positions: np.ndarray, rows: np.ndarray, resolution: int):  # type: ignore[no-untyped-def]
        built.append(int(positions[0]))
        return real_build(self, positions, rows, resolution)

    monkeypatch.setattr(Loader, "_build", build)
    for step in range(6):
        alpha = 0.1 + 0.15 * step
        x, _ = ahead.next(6, 8, alpha=alpha)
        assert torch.equal(x, plain.next(6, 8, alpha=alpha)[0])
    assert ahead._pending is not None
    ahead._pending[1].result()  # the batch being prepared for a seventh step
    assert len(built) == 6 + 1 + 6  # plain: 6; ahead: the first step, then one ahead per step, all used
