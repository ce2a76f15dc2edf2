"""Checkpoints: safetensors files that hold the networks and the complete training state.

One file per snapshot, ``network-snapshot-<kimg:06d>.safetensors``, written to a
temporary name and renamed, so a crash or ``kill -9`` never leaves a partial
checkpoint under the real name. Tensors: ``G.*``, ``D.*``, ``G_ema.*`` (weights),
``opt/G/...``, ``opt/D/...`` (Adam moments), ``rng/...`` (generator states).
Metadata (strings): the format tag, the resolved training configuration, the
progress counters, the optimizers' hyper-parameters and the loader position, as
JSON. Nothing is unpickled on load (unlike the TF release's pickles, which
execute code).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from progan import importers
from progan.config import NetworkConfig, TrainConfig
from progan.config_io import from_dict, to_dict, upgrade_config_dict
from progan.errors import CheckpointError
from progan.importers import Imported
from progan.networks import build_generator
from progan.training.snapshots import latest_checkpoint

FORMAT = "progan-checkpoint"
FORMAT_VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint: tensors grouped by prefix, plus decoded JSON metadata."""

    path: Path
    tensors: dict[str, torch.Tensor]
    config: dict[str, Any]
    progress: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    def module_state(self, prefix: str) -> dict[str, torch.Tensor]:
        p = prefix + "."
        return {k[len(p):]: v for k, v in self.tensors.items() if k.startswith(p)}


def _optimizer_to_flat(prefix: str,
                       opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}/{idx}/{key}"] = value.detach().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _optimizer_from_flat(prefix: str, tensors: dict[str, torch.Tensor],
                         meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    head = prefix + "/"
    for name, value in tensors.items():
        if name.startswith(head):
            idx, key = name[len(head):].split("/", 1)
            state.setdefault(int(idx), {})[key] = value
    for idx, values in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(values)
    groups = meta["param_groups"]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    modules: dict[str, torch.nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    rng: dict[str, torch.Tensor],
    config: dict[str, Any],
    progress: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically; returns its path."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = value.detach().cpu().contiguous()
    opt_meta = {}
    for name, opt in optimizers.items():
        t, m = _optimizer_to_flat(f"opt/{name}", opt)
        tensors.update({k: v.cpu() for k, v in t.items()})
        opt_meta[name] = m
    for name, state in rng.items():
        tensors[f"rng/{name}"] = state.detach().cpu().contiguous()
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(config),
        "progress": json.dumps(progress),
        "optimizers": json.dumps(opt_meta),
        "extra": json.dumps(extra or {}),
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_checkpoint(path: str | os.PathLike[str], *, prefixes: tuple[str, ...] | None = None) -> Checkpoint:
    """Read a checkpoint (only tensors under ``prefixes`` if given). Raises CheckpointError when unusable."""
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise CheckpointError(f"no network-snapshot-*.safetensors in {path}")
        path = found
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"{path} is a safetensors file but not a progan checkpoint")
            if int(meta.get("format_version", "0")) > FORMAT_VERSION:
                raise CheckpointError(f"{path} was written by a newer progan "
                                      f"(format {meta['format_version']})")
            keys = [k for k in f.keys()
                    if prefixes is None or k.split(".", 1)[0].split("/", 1)[0] in prefixes]
            tensors = {k: f.get_tensor(k) for k in keys}
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        reason = " ".join(str(e).split())[:120]
        raise CheckpointError(f"{path} is truncated or not a checkpoint ({reason})") from None
    try:
        config = upgrade_config_dict(json.loads(meta["config"]))
        progress = json.loads(meta["progress"])
        extra = {"optimizers": json.loads(meta.get("optimizers", "{}")),
                 **json.loads(meta.get("extra", "{}"))}
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"{path} has damaged metadata") from None
    return Checkpoint(path=path, tensors=tensors, config=config, progress=progress, extra=extra)


def save_imported(imported: Imported, out: str | os.PathLike[str]) -> Path:
    """Write networks read by :func:`progan.importers.read_pickle` as a progan snapshot (Gs becomes G_ema): no
    optimizer, schedule or generator state, so it can be fine-tuned (``--init-from``) but not resumed."""
    modules = {name: imported.build(name) for name in ("G", "D", "G_ema")}
    return save_checkpoint(out, modules=modules, optimizers={}, rng={},
                           config=to_dict(TrainConfig(preset="imported", network=imported.config)),
                           progress={"kimg": 0.0, "lod": imported.lod},
                           extra={"imported_from": imported.source})


def restore_optimizer(opt: torch.optim.Optimizer, ckpt: Checkpoint, name: str) -> None:
    meta = ckpt.extra["optimizers"][name]
    opt.load_state_dict(_optimizer_from_flat(f"opt/{name}", ckpt.tensors, meta))


def load_generator(path: str | os.PathLike[str], *, device: str | torch.device = "cpu",
                   ema: bool = True) -> torch.nn.Module:
    """The generator of a checkpoint (the averaged ``G_ema`` by default), in eval mode, at the checkpoint's
    lod.

    ``G(z, labels=None)`` returns images in [-1, 1] at ``G.output_resolution``. A ``.pkl`` of the
    authors' releases is converted in memory (:func:`progan.importers.load_generator`).
    """
    if importers.is_pickle_path(path) and Path(path).is_file():
        return importers.load_generator(path, device=device, ema=ema)
    name = "G_ema" if ema else "G"
    ckpt = read_checkpoint(path, prefixes=(name,))
    net_cfg = from_dict(NetworkConfig, ckpt.config["network"], "network")
    G = build_generator(net_cfg)
    try:
        G.load_state_dict(ckpt.module_state(name))
    except RuntimeError as e:
        raise CheckpointError(f"{ckpt.path}: weights do not fit the saved network configuration "
                              f"({str(e).splitlines()[0]})") from None
    G.lod = float(ckpt.progress.get("lod", 0.0))
    return G.eval().requires_grad_(False).to(device)
