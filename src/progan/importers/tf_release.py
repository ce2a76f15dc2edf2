"""The TF release's network state (``tfutil.Network.__getstate__``) as progan's config and weights.

Karras et al.'s TF release (``networks.py``: ``G_paper`` / ``D_paper``; ``tfutil.py``: ``Network``)
stores each network as ``static_kwargs`` (only the keywords its config passed; the rest take the
build function's defaults) and ``variables``: ``[(local name, array)]``. The layouts, with the
equalized learning rate kept as in progan (N(0, 1) weights scaled at run time by
``gain / sqrt(fan_in)``, the same gains and fan-ins as the release's ``get_weight``):

- ``4x4/Dense/weight`` [in, nf(1)*16]: G's first layer; its output reshaped NCHW, so progan's
  ``[out, in]`` weight is the transpose; ``4x4/Dense/bias`` [nf(1)] is one bias per feature map.
- ``*/Conv*/weight`` [k, k, in, out] (TF's ``conv2d`` is a cross-correlation, as torch's): progan's
  ``[out, in, k, k]`` is a transpose.
- ``RxR/Conv0_up/weight`` [3, 3, out, in]: G's fused up-conv (``fused_scale=True``), a stride-2
  transposed conv whose 4x4 kernel is the 3x3 kernel summed over four shifts. That is nearest 2x
  upsampling followed by a 3x3 conv with the kernel flipped spatially and its in/out axes swapped,
  which is what progan runs.
- ``RxR/Conv1_down/weight`` [3, 3, in, out]: D's fused conv + downscale; same layout as ``Conv1``,
  but its bias and activation come after the pooling (``NetworkConfig.fused_scale``).
- ``ToRGB_lod<k>`` / ``FromRGB_lod<k>``: the 1x1 convs of resolution ``2**(log2(resolution) - k)``.
- ``lod``: the network's level of detail when it was saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from progan.config import NetworkConfig
from progan.errors import UserError

# Keyword defaults of the release's G_paper / D_paper (networks.py); None = nf(0) for latent_size.
G_DEFAULTS: dict[str, Any] = {
    "num_channels": 1, "resolution": 32, "label_size": 0, "fmap_base": 8192, "fmap_decay": 1.0,
    "fmap_max": 512, "latent_size": None, "normalize_latents": True, "use_wscale": True,
    "use_pixelnorm": True, "pixelnorm_epsilon": 1e-8, "use_leakyrelu": True, "dtype": "float32",
    "fused_scale": True, "structure": None,
}
D_DEFAULTS: dict[str, Any] = {
    "num_channels": 1, "resolution": 32, "label_size": 0, "fmap_base": 8192, "fmap_decay": 1.0,
    "fmap_max": 512, "use_wscale": True, "mbstd_group_size": 4, "dtype": "float32", "fused_scale": True,
    "structure": None,
}
_SHARED = ("num_channels", "resolution", "label_size", "fmap_base", "fmap_decay", "fmap_max", "use_wscale")
_BOOLS = {"normalize_latents", "use_wscale", "use_pixelnorm", "use_leakyrelu", "fused_scale"}
_INTS = {"num_channels", "resolution", "label_size", "fmap_base", "fmap_max", "latent_size",
         "mbstd_group_size"}
_FLOATS = {"fmap_decay", "pixelnorm_epsilon"}
# Keywords a build function ignores (``**kwargs``) but real pickles hold: legacy.py gives every network it
# converts from Theano ``mbstd_group_size=16``, G included.
_IGNORED = {"G_paper": {"mbstd_group_size"}, "D_paper": set()}


class ImportRefused(UserError):
    """The network uses something progan cannot express or the file is inconsistent (one line)."""


def _settings(kwargs: Any, defaults: dict[str, Any], role: str, func: str) -> dict[str, Any]:
    if not isinstance(kwargs, dict):
        raise ImportRefused(f"{role}'s static_kwargs is not a dict")
    out = dict(defaults)
    for key, value in kwargs.items():
        if key in _IGNORED[func] and isinstance(value, (int, np.integer)):
            continue
        if key not in defaults:
            raise ImportRefused(f"{role}'s static_kwargs sets {key}={value!r}, which the release's {func} "
                                "does not take (a modified networks.py?); progan cannot tell what it means")
        ok = ((key in _BOOLS and isinstance(value, (bool, np.bool_)))
              or (key in _INTS and isinstance(value, (int, np.integer)) and not isinstance(value, bool))
              or (key in _FLOATS and isinstance(value, (int, float, np.floating))
                  and not isinstance(value, bool))
              or (key == "latent_size" and value is None)
              or (key == "dtype" and isinstance(value, str))
              or (key == "structure" and value in (None, "linear", "recursive")))
        if not ok:
            raise ImportRefused(f"{role}'s static_kwargs has {key}={value!r}, not a valid value")
        out[key] = value.item() if isinstance(value, np.generic) else value
    return out


def network_config(g_kwargs: Any, d_kwargs: Any) -> NetworkConfig:
    """progan's :class:`NetworkConfig` for the release's ``G_paper`` / ``D_paper`` keywords.

    Raises :class:`ImportRefused` naming the first setting progan cannot express.
    """
    g = _settings(g_kwargs, G_DEFAULTS, "G", "G_paper")
    d = _settings(d_kwargs, D_DEFAULTS, "D", "D_paper")
    for key in _SHARED:
        if g[key] != d[key]:
            raise ImportRefused(f"G has {key}={g[key]!r} but D has {key}={d[key]!r}; progan's G and D share "
                                f"one network.{key}")
    if not g["use_leakyrelu"]:
        raise ImportRefused("G uses ReLU (use_leakyrelu=False); progan's G uses leaky ReLU 0.2 only")
    if g["pixelnorm_epsilon"] != 1e-8:
        raise ImportRefused(f"G has pixelnorm_epsilon={g['pixelnorm_epsilon']!r}; "
                            "progan's pixel norm uses 1e-8")
    for role, s in (("G", g), ("D", d)):
        if s["dtype"] not in ("float32", "float16"):
            raise ImportRefused(f"{role} has dtype={s['dtype']!r}; "
                                "progan imports float32 or float16 networks")
    cfg = NetworkConfig(
        resolution=g["resolution"], channels=g["num_channels"], num_classes=g["label_size"],
        conditioning="acgan" if g["label_size"] > 0 else "none",
        fmap_base=g["fmap_base"], fmap_decay=float(g["fmap_decay"]), fmap_max=g["fmap_max"],
        equalized_lr=g["use_wscale"], pixelnorm=g["use_pixelnorm"], normalize_latents=g["normalize_latents"],
        mbstd_group_size=d["mbstd_group_size"], mbstd_num_features=1, fused_scale=d["fused_scale"],
    )
    if g["latent_size"] is None:
        cfg.latent_size = cfg.nf(0)
    else:
        cfg.latent_size = g["latent_size"]
    try:
        cfg.validate()
    except UserError as e:
        raise ImportRefused(f"progan cannot build this network: {e}") from None
    return cfg


def _dense(w: np.ndarray) -> np.ndarray:
    return w.T


def _conv(w: np.ndarray) -> np.ndarray:
    return w.transpose(3, 2, 0, 1) if w.ndim == 4 else w


def _up_conv(w: np.ndarray) -> np.ndarray:
    # [3, 3, out, in] of a transposed conv -> [out, in, 3, 3] of the equivalent conv after nearest-up.
    return w.transpose(2, 3, 0, 1)[:, :, ::-1, ::-1] if w.ndim == 4 else w


def _same(w: np.ndarray) -> np.ndarray:
    return w


Rule = tuple[str, Callable[[np.ndarray], np.ndarray]]


def _layer(rules: dict[str, Rule], ours: str, theirs: str,
           weight: Callable[[np.ndarray], np.ndarray]) -> None:
    rules[f"{ours}.weight"] = (f"{theirs}/weight", weight)
    rules[f"{ours}.bias"] = (f"{theirs}/bias", _same)


def generator_rules(cfg: NetworkConfig, names: set[str]) -> dict[str, Rule]:
    """progan G key -> (release variable, transform); each level's first conv fused or not, as stored."""
    rules: dict[str, Rule] = {"blocks.0.dense.weight": ("4x4/Dense/weight", _dense),
                              "blocks.0.bias": ("4x4/Dense/bias", _same)}
    _layer(rules, "blocks.0.conv.conv", "4x4/Conv", _conv)
    for res in range(3, cfg.resolution_log2 + 1):
        scope, i = f"{2 ** res}x{2 ** res}", res - 2
        fused = f"{scope}/Conv0_up/weight" in names
        _layer(rules, f"blocks.{i}.conv0.conv", f"{scope}/Conv0_up" if fused else f"{scope}/Conv0",
               _up_conv if fused else _conv)
        _layer(rules, f"blocks.{i}.conv1.conv", f"{scope}/Conv1", _conv)
    for res in range(2, cfg.resolution_log2 + 1):
        _layer(rules, f"to_rgb.{res - 2}", f"ToRGB_lod{cfg.resolution_log2 - res}", _conv)
    return rules


def discriminator_rules(cfg: NetworkConfig) -> dict[str, Rule]:
    """progan D key -> (release variable, transform)."""
    rules: dict[str, Rule] = {}
    _layer(rules, "blocks.0.conv.conv", "4x4/Conv", _conv)
    _layer(rules, "blocks.0.dense0", "4x4/Dense0", _dense)
    _layer(rules, "blocks.0.dense1", "4x4/Dense1", _dense)
    for res in range(3, cfg.resolution_log2 + 1):
        scope, i = f"{2 ** res}x{2 ** res}", res - 2
        _layer(rules, f"blocks.{i}.conv0.conv", f"{scope}/Conv0", _conv)
        conv1 = f"{scope}/Conv1_down" if cfg.fused_scale else f"{scope}/Conv1"
        _layer(rules, f"blocks.{i}.conv1.conv", conv1, _conv)
    for res in range(2, cfg.resolution_log2 + 1):
        _layer(rules, f"from_rgb.{res - 2}.conv", f"FromRGB_lod{cfg.resolution_log2 - res}", _conv)
    return rules


def variables_of(state: dict[str, Any], role: str) -> dict[str, Any]:
    """The ``variables`` of a network state as a name -> value dict, checked."""
    variables = state.get("variables")
    if not isinstance(variables, (list, tuple)):
        raise ImportRefused(f"{role} has no list of variables")
    out: dict[str, Any] = {}
    for item in variables:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise ImportRefused(f"{role}'s variables are not (name, value) pairs")
        name, value = item
        if not isinstance(value, (np.ndarray, float, int)) or isinstance(value, bool):
            raise ImportRefused(f"{role}'s variable {name!r} is not numeric")
        out[name] = value
    return out


def convert_weights(variables: dict[str, Any], rules: dict[str, Rule], expected: dict[str, torch.Tensor],
                    role: str) -> dict[str, torch.Tensor]:
    """progan's state dict from the release's variables; every variable but ``lod`` must be used."""
    out: dict[str, torch.Tensor] = {}
    for key, target in expected.items():
        if key not in rules:
            raise ImportRefused(f"progan's {role} has a parameter {key} that the release's network lacks")
        name, transform = rules[key]
        if name not in variables:
            raise ImportRefused(f"{role} has no variable {name!r} "
                                "(not a G_paper / D_paper network of this size?)")
        value = np.asarray(variables[name])
        if not np.issubdtype(value.dtype, np.floating):
            raise ImportRefused(f"{role}'s variable {name!r} is not floating-point")
        array = np.ascontiguousarray(transform(value), dtype=np.float32)
        if tuple(array.shape) != tuple(target.shape):
            raise ImportRefused(f"{role}'s variable {name!r} has shape {list(value.shape)}, which does not "
                                f"fit the network its static_kwargs describe")
        out[key] = torch.from_numpy(array)
    used = {rules[k][0] for k in expected}
    extra = sorted(set(variables) - used - {"lod"})
    if extra:
        raise ImportRefused(f"{role} has variables progan's network has no place for: {', '.join(extra[:4])}")
    return out


def lod_of(variables: dict[str, Any], cfg: NetworkConfig, role: str) -> float:
    """The ``lod`` a network was saved at (0 when absent), checked against its resolution."""
    lod = float(np.asarray(variables.get("lod", 0.0)))
    if not 0.0 <= lod <= cfg.resolution_log2 - 2:
        raise ImportRefused(f"{role}'s lod {lod} is outside 0..{cfg.resolution_log2 - 2}")
    return lod
