"""The authors' pre-trained networks in progan, read without running any of the pickled code.

Karras et al. released their networks as pickles: the TF release's ``karras2018iclr-*.pkl``
(``(G, D, Gs)``, three ``tfutil.Network`` states; see :mod:`progan.importers.tf_release`) and the
Theano release's snapshots (``network.Network``; :mod:`progan.importers.theano_release`, as the TF
release's ``legacy.py``). :func:`read_pickle` reads one with a restricted unpickler
(:mod:`progan.importers._unpickle`), maps its keywords to a :class:`~progan.config.NetworkConfig`
and its variables to progan's G / D / G_ema weights (Gs is the averaged G);
:func:`progan.training.checkpoint.save_imported` writes them as a progan snapshot,
:func:`load_generator` builds the generator in memory.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from progan.config import NetworkConfig
from progan.errors import UserError
from progan.importers import tf_release, theano_release
from progan.importers._unpickle import NetworkState, PickleRefused, load_networks
from progan.importers.tf_release import ImportRefused
from progan.networks import Discriminator, Generator

__all__ = ["ImportRefused", "Imported", "PickleRefused", "is_pickle_path", "load_generator",
           "read_pickle"]

PICKLE_SUFFIXES = (".pkl", ".pickle")
_ROLES = (("G", "G_paper"), ("D", "D_paper"), ("Gs", "G_paper"))


def is_pickle_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a network pickle (by its suffix) rather than a progan snapshot."""
    return Path(path).suffix.lower() in PICKLE_SUFFIXES


@dataclass
class Imported:
    """The networks of one pickle: progan's config, state dicts of G, D and G_ema (= Gs), their lod."""

    config: NetworkConfig
    states: dict[str, dict[str, torch.Tensor]]
    lod: float
    source: dict[str, Any]

    def build(self, name: str) -> torch.nn.Module:
        """``G``, ``D`` or ``G_ema`` as a progan module holding the imported weights, at the saved lod."""
        net = Discriminator(self.config) if name == "D" else Generator(self.config)
        net.load_state_dict(self.states[name])
        net.lod = self.lod
        return net


def _release_state(net: NetworkState, role: str, func: str) -> dict[str, Any]:
    state = net.state if net.kind == "tf" else theano_release.convert_state(net.state)
    if net.kind == "tf" and state.get("version") != 2:
        raise ImportRefused(f"{role} is a tfutil.Network of format version {state.get('version')!r}; the TF "
                            "release writes version 2")
    if state.get("build_func_name") != func:
        raise ImportRefused(f"{role} is built by {state.get('build_func_name')!r}, not the release's {func}")
    return state


def _fill_from_shapes(kwargs: dict[str, Any], g_vars: dict[str, Any],
                      d_vars: dict[str, Any]) -> dict[str, Any]:
    """Resolution, channels and label size from the variables when the keywords do not say them."""
    out = dict(kwargs)
    lods = [int(n[len("ToRGB_lod"):].split("/")[0]) for n in g_vars if n.startswith("ToRGB_lod")
            and n[len("ToRGB_lod"):].split("/")[0].isdigit()]
    if "resolution" not in out and lods:
        out["resolution"] = 2 ** (max(lods) + 2)
    rgb, dense1 = g_vars.get("ToRGB_lod0/bias"), d_vars.get("4x4/Dense1/bias")
    if "num_channels" not in out and isinstance(rgb, np.ndarray) and rgb.ndim == 1:
        out["num_channels"] = int(rgb.shape[0])
    if "label_size" not in out and isinstance(dense1, np.ndarray) and dense1.ndim == 1:
        out["label_size"] = int(dense1.shape[0]) - 1
    return out


def read_pickle(path: str | os.PathLike[str]) -> Imported:
    """Read a network pickle of the authors' releases; :class:`~progan.errors.UserError` (one line)
    otherwise."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    try:
        nets = load_networks(data)
        states = {role: _release_state(net, role, func) for (role, func), net in zip(_ROLES, nets)}
        variables = {role: tf_release.variables_of(s, role) for role, s in states.items()}
        d_kwargs = _fill_from_shapes(states["D"].get("static_kwargs", {}), variables["G"], variables["D"])
        cfgs = [tf_release.network_config(_fill_from_shapes(states[g].get("static_kwargs", {}), variables[g],
                                                            variables["D"]), d_kwargs) for g in ("G", "Gs")]
        if cfgs[0] != cfgs[1]:
            raise ImportRefused("G and Gs describe different networks")
        cfg = cfgs[0]
        with torch.device("meta"):  # shapes only
            expected = {"G": Generator(cfg).state_dict(), "D": Discriminator(cfg).state_dict()}
        g_rules = {role: tf_release.generator_rules(cfg, set(variables[role])) for role in ("G", "Gs")}
        weights = {
            "G": tf_release.convert_weights(variables["G"], g_rules["G"], expected["G"], "G"),
            "D": tf_release.convert_weights(variables["D"], tf_release.discriminator_rules(cfg),
                                            expected["D"], "D"),
            "G_ema": tf_release.convert_weights(variables["Gs"], g_rules["Gs"], expected["G"], "Gs"),
        }
        lod = tf_release.lod_of(variables["Gs"], cfg, "Gs")
    except UserError as e:
        raise type(e)(f"{path}: {e}") from None
    source = {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(),
              "format": "tf-release" if nets[0].kind == "tf" else "theano-release", "lod": lod}
    return Imported(config=cfg, states=weights, lod=lod, source=source)


def load_generator(path: str | os.PathLike[str], *, device: str | torch.device = "cpu",
                   ema: bool = True) -> torch.nn.Module:
    """The generator of a release pickle (Gs by default, else G), converted in memory, in eval mode."""
    G = read_pickle(path).build("G_ema" if ema else "G")
    return G.eval().requires_grad_(False).to(device)
