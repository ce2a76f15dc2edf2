"""CIFAR-10 / CIFAR-100 "python version" batches, as a folder or the original .tar.gz (read in place).

The batches are Python pickles. They are read with :class:`SafeUnpickler`, which can rebuild only
dicts, lists, strings, bytes, numbers and plain numeric numpy arrays: ``find_class`` allows the three
numpy reconstruction helpers and nothing else, so a hostile file cannot run code.
CIFAR-100 uses the 100 fine labels.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from progan.data.source_types import ArraySource
from progan.errors import DataError

try:  # numpy >= 2 moved the module; pickles from either era name numpy.core
    from numpy._core import multiarray as _multiarray
except ImportError:  # pragma: no cover
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]


def _dtype(obj: Any, align: bool = False, copy: bool = False) -> np.dtype:
    dt = np.dtype(obj, align, copy)
    if dt.hasobject:
        raise pickle.UnpicklingError("object arrays are not allowed")
    return dt


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("_codecs", "encode"): __import__("codecs").encode,  # how Python 3 protocol-2 pickles spell bytes
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler restricted to plain data and numeric numpy arrays."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file") from None


def safe_load(data: bytes) -> Any:
    # latin1 turns Python 2 str into str and lets numpy read Python 2 array buffers, as numpy documents.
    return SafeUnpickler(io.BytesIO(data), encoding="latin1").load()


class _Layout(NamedTuple):
    splits: dict[str, list[str]]  # split -> its batch files
    meta: str                     # the file that names the classes


_CIFAR10 = _Layout({"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
                   "batches.meta")
_CIFAR100 = _Layout({"train": ["train"], "test": ["test"]}, "meta")


def find_cifar_dir(folder: Path) -> Path | None:
    for d in (folder, folder / "cifar-10-batches-py", folder / "cifar-100-python"):
        if (d / "data_batch_1").is_file() or (d / "train").is_file() and (d / "meta").is_file():
            return d
    return None


def _tar_getter(path: Path) -> tuple[Callable[[str], bytes], set[str]]:
    try:
        tar = tarfile.open(path)
        members = {m.name.rsplit("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"cannot read archive {path}: {e}") from None

    def get(name: str) -> bytes:
        f = tar.extractfile(members[name])
        assert f is not None
        return f.read()

    return get, set(members)


def _folder_getter(folder: Path) -> Callable[[str], bytes]:
    def get(name: str) -> bytes:
        return (folder / name).read_bytes()

    return get


def open_cifar(path: Path, split: str) -> ArraySource:
    if path.is_file():
        get, names = _tar_getter(path)
    else:
        d = find_cifar_dir(path)
        if d is None:
            raise DataError(f"no CIFAR batches in {path}")
        names = {f.name for f in d.iterdir() if f.is_file()}
        get = _folder_getter(d)
    layout, fine = (_CIFAR10, False) if "data_batch_1" in names else (_CIFAR100, True)
    if not set(layout.splits["train"]) & names and not set(layout.splits["test"]) & names:
        raise DataError(f"{path} is neither a CIFAR-10 nor a CIFAR-100 python archive")
    wanted = (layout.splits["train"] + layout.splits["test"]) if split == "all" else layout.splits[split]
    missing = [n for n in wanted if n not in names]
    if missing:
        raise DataError(f"CIFAR source {path} lacks {', '.join(missing)} for split {split!r}")
    images, labels = [], []
    for name in wanted:
        batch = _load(get, name, path)
        data, lab = batch.get("data"), batch.get("fine_labels" if fine else "labels")
        if not (isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2
                and data.shape[1] == 3072 and lab is not None and len(lab) == len(data)):
            raise DataError(f"{name} in {path} is not a CIFAR batch (expected uint8 data [N, 3072], labels)")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(np.asarray(lab, dtype=np.int64))
    lab_all = np.concatenate(labels)
    class_names: list[str] = []
    if layout.meta in names:
        meta = _load(get, layout.meta, path)
        class_names = [str(n) for n in meta.get("fine_label_names" if fine else "label_names", [])]
    if len(class_names) <= int(lab_all.max(initial=0)):
        class_names = [str(i) for i in range(int(lab_all.max(initial=-1)) + 1)]
    kind = "CIFAR-100" if fine else "CIFAR-10"
    return ArraySource(kind="cifar", path=path, description=f"{kind} {path} ({split} split)",
                       images=np.concatenate(images), labels=lab_all, class_names=class_names)


def _load(get: Callable[[str], bytes], name: str, path: Path) -> dict[str, Any]:
    try:
        obj = safe_load(get(name))
    except Exception as e:  # a damaged pickle can fail in many ways; all mean the same to the user
        raise DataError(f"cannot read {name} in {path}: {e}") from None
    if not isinstance(obj, dict):
        raise DataError(f"{name} in {path} is not a CIFAR batch")
    return obj
