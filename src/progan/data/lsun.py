"""LSUN scene categories as distributed: one LMDB folder (``data.mdb``) of encoded images per category.

Needs the optional ``lmdb`` package (``pip install progan[lsun]``). As the TF release: centre crop to a
square, Lanczos resize (default 256 there; here the largest power of two all images support unless
``--resolution`` is given).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from progan.data.source_types import FileSource
from progan.errors import DataError


def _lmdb() -> Any:
    try:
        import lmdb  # optional: the progan[lsun] extra
    except ImportError:
        raise DataError("reading LSUN needs the lmdb package: pip install 'progan[lsun]' "
                        "(or pip install lmdb)") from None
    return lmdb


class LmdbReader:
    """Read-only, lock-free LMDB access, opened separately in each worker."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._env: Any = None
        self._txn: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_env": None, "_txn": None}

    def __enter__(self) -> "LmdbReader":
        self._env = _lmdb().open(str(self.path), readonly=True, lock=False, readahead=False, subdir=True)
        self._txn = self._env.begin(write=False)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._txn is not None:
            self._txn.abort()
        if self._env is not None:
            self._env.close()
        self._env = self._txn = None

    def read(self, ref: bytes) -> bytes:
        value = self._txn.get(ref)
        if value is None:
            raise KeyError(f"key {ref!r} vanished from the LMDB")
        return bytes(value)


def open_lmdb(path: Path) -> FileSource:
    lmdb = _lmdb()
    try:
        env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, subdir=True)
    except lmdb.Error as e:
        raise DataError(f"cannot open LMDB {path}: {e}") from None
    with env, env.begin(write=False) as txn:
        keys = [bytes(k) for k in txn.cursor().iternext(keys=True, values=False)]
    if not keys:
        raise DataError(f"LMDB {path} holds no images")
    names = [k.decode("utf-8", "backslashreplace") for k in keys]
    return FileSource(kind="lsun", path=path, description=f"LSUN LMDB {path} ({len(keys)} images)",
                      reader=LmdbReader(path), refs=keys, names=names, channels=3)
