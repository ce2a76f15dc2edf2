"""Builders that write small real-format sources (idx, CIFAR pickles, image trees) for the data tests."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    header = b"\0\0\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def make_idx_folder(root: Path, n_train: int = 20, n_test: int = 7, seed: int = 0, gz: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        labels[:10 if n >= 10 else n] = np.arange(min(n, 10))  # every class present
        write_idx(root / f"{prefix}-images-idx3-ubyte", images, gz)
        write_idx(root / f"{prefix}-labels-idx1-ubyte", labels, gz)
        out[prefix] = (images, labels)
    return out


def cifar_batch(n: int, seed: int, label_key: str = "labels", classes: int = 10) -> dict:
    rng = np.random.default_rng(seed)
    return {"batch_label": "test batch", "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            label_key: [int(v) for v in rng.integers(0, classes, n)],
            "filenames": [f"f{i}.png" for i in range(n)]}


def make_cifar10(root: Path, per_batch: int = 4) -> dict:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    batches = {}
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batches[name] = cifar_batch(per_batch, i)
        (d / name).write_bytes(pickle.dumps(batches[name], protocol=2))
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                            "truck"]}
    (d / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return batches


def make_cifar100_tar(path: Path, n: int = 6) -> dict:
    batches = {"train": cifar_batch(n, 10, "fine_labels", 100),
               "test": cifar_batch(n, 11, "fine_labels", 100)}
    meta = {"fine_label_names": [f"class{i}" for i in range(100)],
            "coarse_label_names": [f"c{i}" for i in range(20)]}
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in list(batches.items()) + [("meta", meta)]:
            data = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return batches


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def image_tree_files() -> dict[str, bytes]:
    """Relative path -> bytes: two classes, awkward modes, a truncated JPEG, a zero-byte PNG, a text file."""
    rng = np.random.default_rng(1)
    files: dict[str, bytes] = {}
    files["cats/rgb.png"] = _png(Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)))
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = np.repeat(np.array([0, 255, 128, 64], np.uint8), 8)[None, :]
    files["cats/rgba.png"] = _png(Image.fromarray(rgba))
    g16 = np.tile(np.array([0, 257 * 100, 65535, 12345], np.uint16).repeat(8), (32, 1))
    files["cats/gray16.png"] = _png(Image.fromarray(g16))
    files["cats/wide.png"] = _png(Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)))
    jpeg = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(jpeg, format="JPEG")
    files["cats/truncated.jpg"] = jpeg.getvalue()[: len(jpeg.getvalue()) // 2]
    files["cats/notes.txt"] = b"not an image"
    files["dogs/empty.png"] = b""
    pal = Image.new("P", (32, 32))
    pal.putdata((np.arange(32 * 32) % 4).tolist())
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30] + [0] * (3 * 252))
    gif = io.BytesIO()
    pal.save(gif, format="GIF")
    files["dogs/palette.gif"] = gif.getvalue()
    tif = io.BytesIO()
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(tif, format="TIFF")
    files["dogs/sub/cmyk.tif"] = tif.getvalue()
    la = np.zeros((32, 32, 2), np.uint8)
    la[..., 0] = 50
    la[..., 1] = np.repeat(np.array([255, 0], np.uint8), 16)[None, :]
    files["dogs/sub/la.png"] = _png(Image.fromarray(la))
    half = np.zeros((32, 32, 3), np.uint8)
    half[:, 16:] = 255  # right half white as stored; EXIF 3 = rotate 180 -> left half white when shown
    exif = Image.Exif()
    exif[0x0112] = 3
    rot = io.BytesIO()
    Image.fromarray(half).save(rot, format="JPEG", quality=95, exif=exif)
    files["dogs/rotated.jpg"] = rot.getvalue()
    return files
