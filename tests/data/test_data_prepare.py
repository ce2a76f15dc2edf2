"""progan prepare: every source kind, the pyramid arithmetic, shuffling, skips and the on-disk format."""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from data_builders import make_cifar10, make_cifar100_tar, make_idx_folder  # type: ignore[import-not-found]
from PIL import Image

from progan.data import open_dataset, prepare
from progan.data.build import luma
from progan.data.format import level_file
from progan.errors import DataError, UserError


def block_mean_level(full: np.ndarray, res: int) -> np.ndarray:
    """Reference: rint of the exact mean over each (F/res)^2 block of the full level (float64)."""
    n, c, f, _ = full.shape
    k = f // res
    return np.rint(full.reshape(n, c, res, k, res, k).astype(np.float64).mean(axis=(3, 5))).astype(np.uint8)


def padded(images: np.ndarray) -> np.ndarray:
    out = np.zeros((len(images), 1, 32, 32), np.uint8)
    out[:, 0, 2:30, 2:30] = images
    return out


def test_idx_pads_shuffles_and_labels(tmp_path: Path) -> None:
    src = make_idx_folder(tmp_path / "mnist")
    ds = open_dataset(prepare(tmp_path / "mnist", tmp_path / "out", progress=False, shuffle_seed=5))
    images, labels = src["train"]
    order = np.random.RandomState(5).permutation(len(images))  # the TF release's choose_shuffled_order
    assert (len(ds), ds.resolution, ds.channels, ds.num_classes) == (20, 32, 1, 10)
    assert ds.class_names == [str(i) for i in range(10)]
    np.testing.assert_array_equal(ds.images(32), padded(images[order]))
    np.testing.assert_array_equal(ds.labels, labels[order].astype(np.int64))
    assert ds.labels.dtype == np.int64
    assert ds.resolutions == [32, 16, 8, 4]
    for res in (16, 8, 4):
        np.testing.assert_array_equal(ds.images(res), block_mean_level(ds.images(32), res))


def test_idx_splits_plain_files_and_channels(tmp_path: Path) -> None:
    src = make_idx_folder(tmp_path / "m", n_train=12, n_test=5, gz=False)
    test = open_dataset(prepare(tmp_path / "m", tmp_path / "test", split="test", progress=False))
    assert len(test) == 5
    both = open_dataset(prepare(tmp_path / "m", tmp_path / "all", split="all", channels=3, resolution=16,
                                progress=False))
    assert (len(both), both.channels, both.resolution) == (17, 3, 16)
    order = np.random.RandomState(123).permutation(17)
    full = padded(np.concatenate([src["train"][0], src["t10k"][0]]))[order]
    ref = block_mean_level(np.repeat(full, 3, axis=1), 16)
    np.testing.assert_array_equal(both.images(16), ref)
    np.testing.assert_array_equal(both.labels, np.concatenate([src["train"][1], src["t10k"][1]])[order])


def test_pyramid_matches_tf_release_and_box_average_of_level_above(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / f"{i}.png")
    ds = open_dataset(prepare(root, tmp_path / "out", progress=False, workers=0))
    full = ds.images(64)
    for res in (32, 16, 8, 4):
        level = ds.images(res).astype(np.int64)
        np.testing.assert_array_equal(level, block_mean_level(full, res))
        above = ds.images(res * 2).astype(np.float64)
        box = (above[..., 0::2, 0::2] + above[..., 0::2, 1::2]
               + above[..., 1::2, 0::2] + above[..., 1::2, 1::2]) / 4
        assert np.abs(level - box).max() <= 1.0
    # the 64x64 level is the images themselves (square, already 64: no resampling), in the seeded order
    order = np.random.RandomState(123).permutation(6)
    for row, item in enumerate(order):
        stored = np.asarray(Image.open(root / f"{item}.png")).transpose(2, 0, 1)
        np.testing.assert_array_equal(full[row], stored)


def test_image_tree_modes_labels_and_skips(image_tree: Path, tmp_path: Path) -> None:
    ds = open_dataset(prepare(image_tree, tmp_path / "out", shuffle_seed=0, progress=False), verify=True)
    assert (len(ds), ds.resolution, ds.channels) == (8, 32, 3)
    assert ds.class_names == ["cats", "dogs"] and ds.num_classes == 2
    assert ds.meta["skipped"]["count"] == 2 and ds.meta["ignored_files"] == 1
    skipped = (ds.path / "skipped.txt").read_text().splitlines()
    assert [line.split("\t")[0] for line in skipped] == ["cats/truncated.jpg", "dogs/empty.png"]
    assert all(len(line.split("\t")[1]) > 5 for line in skipped)

    names = sorted(["cats/rgb.png", "cats/rgba.png", "cats/gray16.png", "cats/wide.png", "cats/truncated.jpg",
                    "dogs/empty.png", "dogs/palette.gif", "dogs/sub/cmyk.tif", "dogs/sub/la.png",
                    "dogs/rotated.jpg"])
    order = [names[i] for i in np.random.RandomState(0).permutation(len(names))]
    kept = [n for n in order if n not in ("cats/truncated.jpg", "dogs/empty.png")]
    img = {name: ds.images(32)[row].astype(np.int64) for row, name in enumerate(kept)}
    assert list(ds.labels) == [0 if n.startswith("cats") else 1 for n in kept]

    # RGBA over white: alpha 0 -> white, 255 -> the colour, 128 -> halfway
    rgba = img["cats/rgba.png"]
    np.testing.assert_array_equal(rgba[:, :, :8], 255)
    np.testing.assert_array_equal(rgba[:, :, 8:16], np.broadcast_to(np.array([200, 0, 0])[:, None, None],
                                                                    (3, 32, 8)))
    over_white = 255 * 127 / 255
    np.testing.assert_allclose(rgba[:, 0, 16], [200 * 128 / 255 + over_white, over_white, over_white], atol=1)
    # 16-bit grey scaled by 255/65535, repeated into RGB
    assert img["cats/gray16.png"][:, 0, ::8].tolist() == [[0, 100, 255, 48]] * 3
    # 48x32 centre crop = columns 8..39 exactly (no resampling needed)
    wide = np.asarray(Image.open(image_tree / "cats/wide.png")).transpose(2, 0, 1)
    np.testing.assert_array_equal(img["cats/wide.png"], wide[:, :, 8:40])
    # palette, CMYK, LA (grey 50 over white where transparent), EXIF rotation (180 degrees)
    palette = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]
    assert img["dogs/palette.gif"][:, 0, :4].T.tolist() == palette
    red = np.broadcast_to(np.array([255, 0, 0])[:, None, None], (3, 32, 32))
    np.testing.assert_array_equal(img["dogs/sub/cmyk.tif"], red)
    assert img["dogs/sub/la.png"][:, 5, [0, 31]].T.tolist() == [[50, 50, 50], [255, 255, 255]]
    rot = img["dogs/rotated.jpg"].mean(axis=(0, 1))
    assert rot[:14].min() > 240 and rot[18:].max() < 15


def test_zip_equals_folder_and_transforms(image_tree: Path, image_zip: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    a = open_dataset(prepare(image_tree, tmp_path / "a", progress=False, workers=0))
    monkeypatch.setattr("progan.data.workers.IN_PROCESS_BELOW", 0)  # force the process pool on a tiny source
    b = open_dataset(prepare(image_zip, tmp_path / "b", progress=False, workers=2))
    monkeypatch.undo()
    np.testing.assert_array_equal(a.images(32), b.images(32))
    np.testing.assert_array_equal(a.labels, b.labels)
    assert b.class_names == ["cats", "dogs"] and b.meta["source"]["kind"] == "zip"
    # pad/stretch on the 48x32 image, against Pillow directly
    wide = Image.open(image_tree / "cats/wide.png")
    canvas = Image.new("RGB", (48, 48))
    canvas.paste(wide, (0, 8))
    ref = {"pad": canvas.resize((16, 16), Image.LANCZOS), "stretch": wide.resize((16, 16), Image.LANCZOS)}
    for transform, expected in ref.items():
        ds = open_dataset(prepare(image_tree / "cats", tmp_path / transform, resolution=16,
                                  transform=transform, labels=False, shuffle_seed=1, progress=False))
        names = sorted(["rgb.png", "rgba.png", "gray16.png", "wide.png", "truncated.jpg"])
        kept = [names[i] for i in np.random.RandomState(1).permutation(5) if names[i] != "truncated.jpg"]
        got = ds.images(16)[kept.index("wide.png")]
        np.testing.assert_array_equal(got, np.asarray(expected).transpose(2, 0, 1))
        assert ds.labels is None and ds.num_classes == 0


def test_strict_stops_at_first_bad_file_and_leaves_nothing(image_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(DataError, match="dogs/empty.png|cats/truncated.jpg"):
        prepare(image_tree, out, strict=True, progress=False)
    assert not out.exists()


def test_grey_default_channels_and_resolution_from_smallest(tmp_path: Path) -> None:
    root = tmp_path / "g"
    root.mkdir()
    Image.new("L", (70, 50), 7).save(root / "a.png")
    Image.new("L", (40, 300), 9).save(root / "b.png")
    ds = open_dataset(prepare(root, tmp_path / "out", progress=False))
    assert (ds.resolution, ds.channels) == (32, 1)
    assert "b.png" in ds.meta["resolution_chosen_as"]
    pad = open_dataset(prepare(root, tmp_path / "pad", transform="pad", progress=False))
    assert pad.resolution == 64
    # with --resolution given, channels come from decoding (no header pass); a skipped file changes nothing
    (root / "broken.png").write_bytes(b"")
    fixed = open_dataset(prepare(root, tmp_path / "fixed", resolution=8, progress=False), verify=True)
    assert (len(fixed), fixed.channels, fixed.meta["skipped"]["count"]) == (2, 1, 1)
    assert sorted(int(v) for v in fixed.images(8)[:, 0, 0, 0]) == [7, 9]
    Image.new("RGB", (16, 16), (1, 2, 3)).save(root / "c.png")
    colour = open_dataset(prepare(root, tmp_path / "colour", resolution=8, progress=False), verify=True)
    assert colour.channels == 3
    assert sorted(colour.images(4)[:, :, 0, 0].tolist()) == [[1, 2, 3], [7] * 3, [9] * 3]


def test_cifar10_folder_and_luma(tmp_path: Path) -> None:
    batches = make_cifar10(tmp_path)
    ds = open_dataset(prepare(tmp_path / "cifar-10-batches-py", tmp_path / "out", progress=False))
    data = np.concatenate([batches[f"data_batch_{k}"]["data"] for k in range(1, 6)]).reshape(-1, 3, 32, 32)
    lab = np.concatenate([batches[f"data_batch_{k}"]["labels"] for k in range(1, 6)])
    order = np.random.RandomState(123).permutation(20)
    np.testing.assert_array_equal(ds.images(32), data[order])
    np.testing.assert_array_equal(ds.labels, lab[order])
    assert ds.class_names[:2] == ["airplane", "automobile"] and ds.num_classes == 10
    grey = open_dataset(prepare(tmp_path, tmp_path / "grey", split="test", channels=1, progress=False))
    test = batches["test_batch"]["data"].reshape(-1, 3, 32, 32)[np.random.RandomState(123).permutation(4)]
    pil = np.stack([np.asarray(Image.fromarray(t.transpose(1, 2, 0)).convert("L")) for t in test])[:, None]
    np.testing.assert_array_equal(grey.images(32), pil)
    np.testing.assert_array_equal(luma(test), pil)


def test_cifar100_tar_gz_fine_labels(tmp_path: Path) -> None:
    batches = make_cifar100_tar(tmp_path / "cifar-100-python.tar.gz")
    tar = tmp_path / "cifar-100-python.tar.gz"
    ds = open_dataset(prepare(tar, tmp_path / "out", split="all", progress=False))
    assert len(ds) == 12 and ds.num_classes == 100 and ds.class_names[5] == "class5"
    lab = np.concatenate([batches["train"]["fine_labels"], batches["test"]["fine_labels"]])
    np.testing.assert_array_equal(ds.labels, lab[np.random.RandomState(123).permutation(12)])


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("touch pwned",))


def test_cifar_pickle_cannot_run_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for k in range(1, 6):
        (d / f"data_batch_{k}").write_bytes(pickle.dumps({"data": _Evil(), "labels": [0]}, protocol=2))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="refusing to load"):
        prepare(d, tmp_path / "out", progress=False)
    assert not (tmp_path / "pwned").exists()


def test_lsun_lmdb(tmp_path: Path) -> None:
    lmdb = pytest.importorskip("lmdb")
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    env = lmdb.open(str(tmp_path / "bedroom_train_lmdb"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i, a in enumerate(imgs):
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, format="PNG")  # lossless stand-in for LSUN's webp/jpeg
            txn.put(f"key{i:03d}".encode(), buf.getvalue())
        txn.put(b"key999", b"garbage")
    env.close()
    ds = open_dataset(prepare(tmp_path / "bedroom_train_lmdb", tmp_path / "out", resolution=32,
                              progress=False, shuffle_seed=2))
    assert len(ds) == 3 and ds.meta["skipped"]["count"] == 1 and ds.meta["source"]["kind"] == "lsun"
    kept = [i for i in np.random.RandomState(2).permutation(4) if i != 3]
    for row, i in enumerate(kept):
        ref = Image.fromarray(imgs[i]).resize((32, 32), Image.LANCZOS, box=(8, 0, 56, 48))
        np.testing.assert_array_equal(ds.images(32)[row], np.asarray(ref).transpose(2, 0, 1))


def test_celeba_crop(tmp_path: Path) -> None:
    d = tmp_path / "img_align_celeba"
    d.mkdir()
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (218, 178, 3), dtype=np.uint8) for _ in range(2)]
    for i, a in enumerate(imgs):
        Image.fromarray(a).save(d / f"{i + 1:06d}.png")
    ds = open_dataset(prepare(tmp_path, tmp_path / "out", progress=False, shuffle_seed=0))
    assert (len(ds), ds.resolution, ds.channels, ds.meta["source"]["kind"]) == (2, 128, 3, "celeba")
    order = np.random.RandomState(0).permutation(2)
    for row, i in enumerate(order):  # rows cy-64..cy+63, columns cx-64..cx+63 with (cx, cy) = (89, 121)
        np.testing.assert_array_equal(ds.images(128)[row], imgs[i][57:185, 25:153].transpose(2, 0, 1))


def test_shuffle_determinism_and_max_images(tmp_path: Path) -> None:
    make_idx_folder(tmp_path / "m", n_train=30)
    a = open_dataset(prepare(tmp_path / "m", tmp_path / "a", progress=False, shuffle_seed=9))
    b = open_dataset(prepare(tmp_path / "m", tmp_path / "b", progress=False, shuffle_seed=9))
    c = open_dataset(prepare(tmp_path / "m", tmp_path / "c", progress=False, shuffle_seed=10))
    sub = open_dataset(prepare(tmp_path / "m", tmp_path / "s", progress=False, shuffle_seed=9, max_images=7))
    np.testing.assert_array_equal(a.images(32), b.images(32))
    assert a.meta["levels"] == b.meta["levels"]  # same checksums
    assert not np.array_equal(a.images(32), c.images(32))
    np.testing.assert_array_equal(np.sort(a.labels), np.sort(c.labels))
    np.testing.assert_array_equal(sub.images(32), a.images(32)[:7])


def test_metadata_checksums_and_corruption(tmp_path: Path) -> None:
    make_idx_folder(tmp_path / "m")
    out = prepare(tmp_path / "m", tmp_path / "out", progress=False)
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["format"] == "progan-dataset" and meta["format_version"] == 1
    assert [lv["file"] for lv in meta["levels"]] == [level_file(r) for r in (32, 16, 8, 4)]
    assert meta["num_images"] == 20 and meta["labels"]["file"] == "labels.npy"
    assert not any(p.name.startswith(".partial") for p in out.iterdir())
    open_dataset(out, verify=True)
    arr = np.load(out / "level-0008.npy")
    arr[0, 0, 0, 0] ^= 1
    np.save(out / "level-0008.npy", arr)
    with pytest.raises(DataError, match="level-0008.npy is corrupt"):
        open_dataset(out, verify=True)
    (out / "level-0004.npy").unlink()
    with pytest.raises(DataError, match="level-0004.npy is missing"):
        open_dataset(out)
    (out / "dataset.json").unlink()
    with pytest.raises(DataError, match="not a prepared data set"):
        open_dataset(out)


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    make_idx_folder(tmp_path / "m")
    (tmp_path / "empty").mkdir()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    cases = [
        (dict(source=tmp_path / "nope"), DataError, "does not exist"),
        (dict(source=tmp_path / "empty"), DataError, "no images found"),
        (dict(outdir=tmp_path / "busy"), DataError, "not empty"),
        (dict(resolution=48), UserError, "power of two"),
        (dict(channels=2), UserError, "1 or 3"),
        (dict(transform="zoom"), UserError, "center-crop"),
        (dict(max_images=0), UserError, ">= 1"),
    ]
    for kwargs, exc, text in cases:
        args = {"source": tmp_path / "m", "outdir": tmp_path / "new", **kwargs}
        with pytest.raises(exc, match=text) as info:
            prepare(args.pop("source"), args.pop("outdir"), progress=False, **args)
        assert "\n" not in str(info.value)
    assert not (tmp_path / "new").exists()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    for res in (None, 8):  # with and without the header pass
        with pytest.raises(DataError, match="none of the 1 images .* a.png"):
            prepare(tmp_path / "bad", tmp_path / "new", resolution=res, progress=False)
    assert not (tmp_path / "new").exists()
    done = prepare(tmp_path / "m", tmp_path / "busy", force=True, progress=False)
    assert len(open_dataset(done)) == 20 and (done / "x").exists()


def test_interrupted_prepare_leaves_no_data_set(image_tree: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import progan.data.build as build

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "decode_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prepare(image_tree, tmp_path / "out", progress=False, workers=0)
    assert not (tmp_path / "out").exists()


def test_failed_force_keeps_the_old_data_set(image_tree: Path, tmp_path: Path) -> None:
    make_idx_folder(tmp_path / "m")
    out = prepare(tmp_path / "m", tmp_path / "out", progress=False)
    with pytest.raises(DataError):
        prepare(image_tree, out, force=True, strict=True, progress=False)
    assert len(open_dataset(out, verify=True)) == 20
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["dataset.json", "labels.npy", "skipped.txt"] + [level_file(r) for r in (32, 16, 8, 4)])


def test_symlink_loops_and_odd_names(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "a b").mkdir(parents=True)
    Image.new("RGB", (8, 8), (1, 2, 3)).save(root / "a b" / "ünï cödé.png")
    Image.new("RGB", (8, 8), (4, 5, 6)).save(root / "x.PNG")
    (root / "a b" / "loop").symlink_to(root)  # would recurse forever if links were followed blindly
    (root / ".hidden").mkdir()
    Image.new("RGB", (8, 8)).save(root / ".hidden" / "skip.png")
    ds = open_dataset(prepare(root, tmp_path / "out", progress=False))
    assert len(ds) == 2 and ds.labels is None
    assert sorted(ds.images(8)[:, :, 0, 0].tolist()) == [[1, 2, 3], [4, 5, 6]]
