"""A pickle reader that runs nothing: the few globals the authors' network pickles name resolve to
inert stand-ins, everything else is refused.

The TF release's ``karras2018iclr-*.pkl`` files (``tfutil.Network.__getstate__``, protocol 4) and the
Theano release's snapshots (``network.Network``, Python 2's cPickle, protocol 2) hold dicts of plain
values and NumPy arrays. Python's ``pickle.Unpickler`` calls whatever callable a file names; here
``find_class`` maps each allowed name to a function of this module that checks its arguments and
rebuilds the value itself (arrays from their dtype, shape and raw bytes with ``np.frombuffer``,
never through NumPy's own unpickling), and refuses any other name. The pickled network source
(``build_module_src``) stays an unused string.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from progan.errors import UserError

# The only dtypes network weights, scalars and shapes are stored in.
_DTYPE_CODES = {"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"}
_BYTE_ORDERS = {"<", ">", "|", "="}
_MAX_DEPTH = 64


class PickleRefused(UserError):
    """The file is not a network pickle this reader accepts (one line, names the reason)."""


class _Guarded:
    """An allowed global that is not a class: callable, but its state can never be set by the file
    (pickle's BUILD would otherwise write attributes of the function it names)."""

    __slots__ = ("_fn",)

    def __init__(self, fn: Any) -> None:
        self._fn = fn

    def __call__(self, *args: Any) -> Any:
        if self._fn is None:
            raise PickleRefused("numpy.ndarray is only an argument of numpy's array reconstructor")
        return self._fn(*args)

    def __setstate__(self, state: Any) -> None:
        raise PickleRefused("it tries to modify a function")


class NetworkState:
    """Stand-in for ``tfutil.Network`` / ``network.Network``: keeps the pickled state dict, nothing else.

    Created by the pickle's NEWOBJ (``cls.__new__``) without ``__init__``; ``__setstate__`` fills it.
    """

    kind = ""
    state: dict[str, Any]  # set by __setstate__ only

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise PickleRefused("a network's pickled state is not a dict of named fields")
        self.state = state


class _TFNetwork(NetworkState):
    kind = "tf"


class _TheanoNetwork(NetworkState):
    kind = "theano"


class _DType:
    """``numpy.dtype(code, align, copy)`` then ``__setstate__``: only plain numeric codes."""

    def __init__(self, code: Any, align: Any = False, copy: Any = True) -> None:
        if isinstance(code, bytes):
            code = code.decode("ascii", "replace")
        if not isinstance(code, str) or code not in _DTYPE_CODES:
            raise PickleRefused(f"array dtype {code!r} is not a plain numeric type")
        self.code = code
        self.order = "|" if code in ("i1", "u1", "b1") else "<"

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) < 2 or state[1] not in _BYTE_ORDERS:
            raise PickleRefused("damaged array dtype")
        if len(state) > 2 and any(v is not None for v in state[2:5]):
            raise PickleRefused("structured array dtypes are not network weights")
        self.order = state[1]

    def numpy(self) -> np.dtype:
        return np.dtype(("" if self.order in ("|", "=") else self.order) + self.code)


# What ``numpy.ndarray`` names in the file: only ever the first argument of ``_reconstruct``.
_NDARRAY = _Guarded(None)


def _raw(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):  # Python 2's str, read back with encoding="latin1"
        return data.encode("latin1")
    raise PickleRefused("array data is not raw bytes (object arrays are refused)")


class _Array:
    """``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`` then ``__setstate__``."""

    def __init__(self) -> None:
        self.value: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise PickleRefused("damaged array state")
        shape, dtype, fortran, data = state[-4:]
        if not isinstance(dtype, _DType):
            raise PickleRefused("array without a plain numeric dtype")
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise PickleRefused("damaged array shape")
        dt = dtype.numpy()
        raw = _raw(data)
        if len(raw) != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise PickleRefused("array data does not match its shape (truncated file?)")
        array = np.frombuffer(raw, dtype=dt).reshape(shape, order="F" if fortran else "C")
        self.value = array.astype(dt.newbyteorder("="), copy=True)


def _reconstruct(cls: Any, shape: Any, typecode: Any) -> _Array:
    if cls is not _NDARRAY or shape != (0,) or typecode not in (b"b", "b"):
        raise PickleRefused("unexpected arguments to numpy's array reconstructor")
    return _Array()


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> _Array:
    # Protocol 5 (numpy >= 1.16): numpy._core.numeric._frombuffer(buffer, dtype, shape, order).
    array = _Array()
    if isinstance(buf, bytearray):
        buf = bytes(buf)
    if order not in ("C", "F"):
        raise PickleRefused("damaged array order")
    array.__setstate__((shape, dtype, order == "F", buf))
    return array


def _scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, _DType) or data is None:
        raise PickleRefused("a NumPy scalar without a plain numeric dtype or data")
    raw = _raw(data)
    dt = dtype.numpy()
    if len(raw) != dt.itemsize:
        raise PickleRefused("damaged NumPy scalar")
    return np.frombuffer(raw, dtype=dt)[0].item()


def _latin1(text: Any, encoding: Any = "latin1") -> bytes:
    # Python 3's protocol-2 pickles store bytes as _codecs.encode(text, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise PickleRefused("unexpected arguments to _codecs.encode")
    return text.encode("latin1")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("tfutil", "Network"): _TFNetwork,
    ("network", "Network"): _TheanoNetwork,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DType,
    ("_codecs", "encode"): _Guarded(_latin1),
}
for _core in ("numpy.core", "numpy._core"):  # numpy 1.x and 2.x names
    _ALLOWED[(f"{_core}.multiarray", "_reconstruct")] = _Guarded(_reconstruct)
    _ALLOWED[(f"{_core}.multiarray", "scalar")] = _Guarded(_scalar)
    _ALLOWED[(f"{_core}.numeric", "_frombuffer")] = _Guarded(_frombuffer)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise PickleRefused(f"it names {module}.{name}, which a network pickle never needs "
                                "(refused: loading it could run code)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise PickleRefused("it uses persistent ids, which a network pickle never needs")


def _resolve(obj: Any, depth: int = 0) -> Any:
    """Replace the stand-ins for arrays by the arrays, through tuples, lists and dicts."""
    if depth > _MAX_DEPTH:
        raise PickleRefused("nested too deeply for a network pickle")
    if isinstance(obj, _Array):
        if obj.value is None:
            raise PickleRefused("an array without data")
        return obj.value
    if isinstance(obj, NetworkState):
        if not hasattr(obj, "state"):
            raise PickleRefused("a network without its pickled state")
        obj.state = {k: _resolve(v, depth + 1) for k, v in obj.state.items()}
        return obj
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, depth + 1) for v in obj)
    if isinstance(obj, dict):
        return {_resolve(k, depth + 1): _resolve(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (_DType, _Guarded, type)) or callable(obj):
        raise PickleRefused("it holds a type or function where a network pickle holds values")
    return obj


def load_networks(data: bytes) -> list[NetworkState]:
    """The ``(G, D, Gs)`` stand-ins of a network pickle's bytes; :class:`PickleRefused` otherwise."""
    if len(data) < 2 or data[0] != pickle.PROTO[0] or not 2 <= data[1] <= 5:
        # The releases wrote protocol 2 (Python 2's cPickle) and 4 (Python 3.6); anything else is foreign.
        raise PickleRefused("it is not a pickle (protocol 2 to 5), or it is truncated")
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except PickleRefused:
        raise
    except RecursionError:
        raise PickleRefused("nested too deeply for a network pickle") from None
    except (pickle.UnpicklingError, EOFError):
        raise PickleRefused("it is truncated or damaged") from None
    except Exception as e:  # noqa: BLE001  (a malformed stream fails anywhere in the unpickler; nothing ran)
        message = " ".join(str(e).split())[:80]
        raise PickleRefused(f"it is not a readable pickle ({type(e).__name__}: {message})") from None
    obj = _resolve(obj)
    if (not isinstance(obj, (tuple, list)) or len(obj) != 3
            or not all(isinstance(n, NetworkState) for n in obj)):
        raise PickleRefused("it does not hold the three networks (G, D, Gs) of the authors' releases")
    kinds = {n.kind for n in obj}
    if len(kinds) != 1:
        raise PickleRefused("it mixes TF-release and Theano-release networks")
    return list(obj)
