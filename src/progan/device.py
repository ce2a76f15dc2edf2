"""Devices and precisions by name: the one place that turns ``auto`` / ``cuda:1`` / ``bf16`` into torch
objects."""

from __future__ import annotations

import torch

from progan.errors import UserError

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
"""Precision names of ``compute.precision`` / ``--precision``."""


def resolve_device(name: str | torch.device, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; a bare ``cuda`` under torchrun takes the GPU of its local rank
    (and becomes the current device). A CUDA request without CUDA, or a bad name, is a one-line error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a device; use auto, cpu or cuda[:N]") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device is available here; use --device cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    return device
