"""Theano-era network states (the paper's original code, branch ``original-theano-version``) in the
TF release's form, following what the TF release's ``legacy.py`` (``patch_theano_gan``) does.

A Theano ``network.Network`` pickles ``build_func_spec`` (``func`` + keywords), ``param_values``
(Lasagne's parameter list: per layer the weight, then, with the equalized learning rate, the
``WScaleLayer``'s scale and the bias) and ``toplevel_params`` (``cur_lod``). Lasagne's
convolutions are true convolutions (kernels flipped relative to TF's), its 4x4 "full" conv on the
1x1 latent is G's dense layer and its valid 4x4 conv is D's ``Dense0``. As ``legacy.py``, the
converted networks are non-fused (``fused_scale=False``) and D's minibatch stddev takes groups of
16 (the Theano D used the whole minibatch). Only the configurations ``legacy.py`` converts are
accepted (no labels, batch norm, tanh output, minibatch discrimination or layer norm).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from progan.importers.tf_release import ImportRefused

_FUNCS = {"G_paper": "G_paper", "G_progressive_8": "G_paper",
          "D_paper": "D_paper", "D_progressive_8": "D_paper"}
# Keyword -> the only value legacy.py converts (None: any value, dropped).
_REQUIRED: dict[str, Any] = {"label_size": 0, "use_batchnorm": False, "tanh_at_end": None,
                             "mbstat_func": "Tstdeps", "mbstat_avg": "all", "mbdisc_kernels": None,
                             "use_layernorm": False}
_SQRT2 = float(np.sqrt(2.0))


class _Params:
    """Lasagne's parameter list, read layer by layer into TF-release variables."""

    def __init__(self, values: Any, wscale: bool, role: str) -> None:
        if (not isinstance(values, (list, tuple))
                or not all(isinstance(v, (np.ndarray, float)) for v in values)):
            raise ImportRefused(f"Theano {role}'s param_values is not a list of arrays")
        self.it: Iterator[np.ndarray] = iter(values)
        self.wscale, self.role = wscale, role
        self.variables: list[tuple[str, np.ndarray]] = []

    def take(self) -> np.ndarray:
        try:
            return np.asarray(next(self.it), np.float32)
        except StopIteration:
            raise ImportRefused(f"Theano {self.role} has fewer parameters than its spec needs") from None

    def layer(self, name: str, gain: float, tf_weight: np.ndarray) -> None:
        """One layer: the weight (already in TF's layout), then [scale], then the bias."""
        if self.wscale:  # effective weight W * scale, stored as the TF release's N(0, 1)-scaled weight
            he_std = gain / np.sqrt(np.prod(tf_weight.shape[:-1]))
            tf_weight = tf_weight * self.take() / he_std
        self.variables += [(f"{name}/weight", np.ascontiguousarray(tf_weight, np.float32)),
                           (f"{name}/bias", self.take())]

    def check_done(self) -> None:
        if next(self.it, None) is not None:
            raise ImportRefused(f"Theano {self.role} has more parameters than its spec describes")


def _conv(w: np.ndarray) -> np.ndarray:  # Lasagne [out, in, k, k], flipped -> TF [k, k, in, out]
    return w.transpose(2, 3, 1, 0)[::-1, ::-1]


def _nin(w: np.ndarray) -> np.ndarray:  # Lasagne NIN [in, out] -> TF 1x1 conv [1, 1, in, out]
    return w[np.newaxis, np.newaxis]


def convert_state(state: dict[str, Any]) -> dict[str, Any]:
    """A Theano network state as the TF release's ``{build_func_name, static_kwargs, variables}``."""
    spec = state.get("build_func_spec")
    if not isinstance(spec, dict) or spec.get("func") not in _FUNCS:
        func = spec.get("func") if isinstance(spec, dict) else None
        raise ImportRefused(f"Theano network {func!r} is not G_paper / D_paper (legacy.py ignores it too)")
    kwargs = dict(spec)
    func = kwargs.pop("func")
    role = func[0]
    for key, value in _REQUIRED.items():
        if kwargs.pop(key, value) != value:
            raise ImportRefused(f"Theano {role} has {key}={spec[key]!r}, which neither progan nor the TF "
                                f"release converts (it must be {value!r})")
    kwargs.pop("use_gdrop", None)  # noise layers, off at evaluation
    kwargs["fused_scale"] = False
    if role == "D":
        kwargs["mbstd_group_size"] = 16
    log2 = int(np.log2(kwargs.get("resolution", 32)))
    params = _Params(state.get("param_values"), bool(kwargs.get("use_wscale", True)), role)
    if role == "G":
        dense = params.take()  # a 4x4 'full' conv of the 1x1 latent: [nf(1), in, 4, 4]
        params.layer("4x4/Dense", _SQRT2 / 4, dense.transpose(1, 0, 2, 3).reshape(dense.shape[1], -1))
        params.layer("4x4/Conv", _SQRT2, _conv(params.take()))
        for res in range(3, log2 + 1):
            params.layer(f"{2 ** res}x{2 ** res}/Conv0", _SQRT2, _conv(params.take()))
            params.layer(f"{2 ** res}x{2 ** res}/Conv1", _SQRT2, _conv(params.take()))
        for lod in range(log2 - 1):
            params.layer(f"ToRGB_lod{lod}", 1.0, _nin(params.take()))
    else:
        params.layer("FromRGB_lod0", _SQRT2, _nin(params.take()))
        for res in range(log2, 2, -1):
            params.layer(f"{2 ** res}x{2 ** res}/Conv0", _SQRT2, _conv(params.take()))
            params.layer(f"{2 ** res}x{2 ** res}/Conv1", _SQRT2, _conv(params.take()))
            params.layer(f"FromRGB_lod{log2 - res + 1}", _SQRT2, _nin(params.take()))
        params.layer("4x4/Conv", _SQRT2, _conv(params.take()))
        dense0 = params.take()  # a valid 4x4 conv: [nf(0), nf(1), 4, 4], flipped
        params.layer("4x4/Dense0", _SQRT2, dense0[:, :, ::-1, ::-1].reshape(dense0.shape[0], -1).T)
        params.layer("4x4/Dense1", 1.0, params.take())
    params.check_done()
    top = state.get("toplevel_params")
    cur_lod = top.get("cur_lod", 0.0) if isinstance(top, dict) else 0.0
    return {"build_func_name": _FUNCS[func], "static_kwargs": kwargs,
            "variables": [*params.variables, ("lod", cur_lod)]}
