"""Config <-> JSON and ``section.field=value`` command-line overrides, typed by the dataclasses."""

from __future__ import annotations

import dataclasses
import difflib
import json
import typing
from typing import Any

from progan.config import TrainConfig
from progan.errors import UserError


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain JSON-able dict of a (nested) config dataclass; dict keys become strings."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert a JSON value or a command-line string to the annotated type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], where)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a mapping")
        return from_dict(tp, value, where)
    if origin is dict:
        kt, vt = args
        if isinstance(value, str):
            items = [kv.split(":", 1) for kv in value.split(",") if kv.strip()]
            if any(len(kv) != 2 for kv in items):
                raise UserError(f"{where}: expected RES:VALUE,RES:VALUE (e.g. 4:128,8:64), got {value!r}")
            value = dict(items)
        return {_coerce(k, kt, where): _coerce(v, vt, where) for k, v in value.items()}
    if origin is list:
        (et,) = args
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        return [_coerce(v, et, where) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise UserError(f"{where}: expected true/false, got {value!r}")
    if tp in (int, float, str):
        try:
            if tp is int and isinstance(value, str):
                out = float(value)
                if out != int(out):
                    raise ValueError
                return int(out)
            if tp is int and isinstance(value, float) and value != int(value):
                raise ValueError
            return tp(value) if not isinstance(value, str) or tp is not str else value.strip()
        except ValueError:
            raise UserError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    return value


def from_dict(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    """Build dataclass ``cls`` from a dict (e.g. ``training_options.json``), rejecting unknown keys."""
    types = _field_types(cls)
    kwargs = {}
    for key, value in data.items():
        if key not in types:
            raise UserError(f"{where}: unknown field {key!r}")
        kwargs[key] = _coerce(value, types[key], f"{where}.{key}")
    return cls(**kwargs)


def apply_override(cfg: TrainConfig, assignment: str) -> None:
    """Apply ``section.field=value`` (e.g. ``network.fmap_max=256``, ``schedule.minibatch=4:64,8:32``)."""
    if "=" not in assignment:
        raise UserError(f"override {assignment!r} must look like section.field=value")
    path, value = assignment.split("=", 1)
    parts = path.strip().split(".")
    target: Any = cfg
    for i, name in enumerate(parts):
        types = _field_types(type(target))
        if name not in types:
            close = difflib.get_close_matches(name, list(types), n=1)
            hint = f" (did you mean {'.'.join(parts[:i] + close)}?)" if close else ""
            raise UserError(f"unknown config field {'.'.join(parts[: i + 1])!r}{hint}")
        if i == len(parts) - 1:
            if dataclasses.is_dataclass(types[name]):
                raise UserError(f"{path!r} is a section; set one of its fields, e.g. {path}.<field>=...")
            setattr(target, name, _coerce(value, types[name], path))
        else:
            target = getattr(target, name)
            if not dataclasses.is_dataclass(target):
                raise UserError(f"{'.'.join(parts[: i + 1])!r} has no fields")


# Fields added after checkpoints were first written, with the value that reproduces what those older runs
# computed (a field absent from a saved configuration takes this, not today's default).
LEGACY_VALUES: dict[tuple[str, str], Any] = {
    ("network", "fused_scale"): False,     # D blocks pooled after bias + activation
    ("loss", "gp_scale"): "working",       # penalties at the working resolution
    ("loss", "ortho_form"): "paper",       # beta * ||W W^T * (1 - I)||^2
    ("optim", "ema_update"): "g_step",     # EMA after the G step (with beta**d_steps: exact for d_steps=1)
    ("schedule", "minibatch_repeats"): 1,  # schedule evaluated every minibatch
    ("compute", "sync_bn"): False,         # batch-norm statistics per process
}


def upgrade_config_dict(data: dict[str, Any]) -> dict[str, Any]:
    """A saved training configuration with the fields it predates filled in as that run computed them."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for (section, name), value in LEGACY_VALUES.items():
        if isinstance(out.get(section), dict) and name not in out[section]:
            out[section][name] = value
    return out


def train_config_from_dict(data: dict[str, Any]) -> TrainConfig:
    return from_dict(TrainConfig, data)
