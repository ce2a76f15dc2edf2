"""Checks and helpers shared by the sampling jobs: writable outputs, devices, batched synthesis."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

import progan
from progan.device import resolve_device
from progan.errors import UserError
from progan.sampling.latents import check_classes

if TYPE_CHECKING:
    from tqdm import tqdm


def check_output_file(path: str | os.PathLike[str], suffixes: Sequence[str] | None = None) -> Path:
    """Fail early (one line) when ``path`` has the wrong suffix or its folder cannot be written."""
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise UserError(f"{path}: the output must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise UserError(f"{path} is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {path}: folder {parent} is not writable")
    return path


def check_output_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and parents) or fail with one line if that is impossible or it is not writable."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create output folder {path}: {e.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"output folder {path} is not writable")
    return path


def load_network(
    network: str | os.PathLike[str] | torch.nn.Module, device: str | torch.device
) -> torch.nn.Module:
    """A generator from a checkpoint file or run folder (:func:`progan.load_generator`), or ``G`` itself."""
    if isinstance(network, torch.nn.Module):
        return network
    return progan.load_generator(str(network), device=resolve_device(device))


def device_of(G: torch.nn.Module) -> torch.device:
    p = next(G.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def label_tensor(G: torch.nn.Module, classes: Sequence[int] | None, n: int) -> Tensor | None:
    """Class indices for ``n`` samples (``classes`` of length 1 or n), or None for an unconditional G."""
    num_classes = int(getattr(G, "num_classes", 0) or 0)
    check_classes(classes, num_classes)
    if num_classes == 0:
        return None
    if not classes:
        raise UserError(f"this network is conditional on {num_classes} classes: "
                        f"pass --class C (0..{num_classes - 1})")
    labels = torch.as_tensor(list(classes), dtype=torch.long)
    return labels.expand(n).clone() if len(labels) == 1 else labels


@torch.no_grad()
def synthesize(
    G: torch.nn.Module,
    z: Tensor,
    labels: Tensor | None = None,
    *,
    batch_size: int = 32,
    bar: tqdm[Any] | None = None,
) -> Tensor:
    """``G(z, labels)`` in batches on G's device; float32 CPU images [N, C, R, R] in G's range [-1, 1]."""
    device = device_of(G)
    out = []
    for start in range(0, len(z), batch_size):
        zb = z[start:start + batch_size].to(device)
        lb = None if labels is None else labels[start:start + batch_size].to(device)
        out.append(G(zb, lb).float().cpu())
        if bar is not None:
            bar.update(len(zb))
    if not out:
        return torch.empty(0)
    return torch.cat(out)
