"""GPU numerics policy: TF32, cuDNN autotuning and deterministic algorithms, set for a scope and restored.

- Metrics always run without TF32 (:func:`metric_numerics`): with it, Ampere-class GPUs round the inputs of
  convolutions and matmuls to 10-bit mantissas, and Inception features (FID, KID, IS) and SWD's
  descriptors then depend on the GPU and on the batch size (torch-fidelity and torchmetrics users report
  this); the papers' numbers were computed in full fp32.
- Training (:func:`training_numerics`) uses full fp32 too unless ``compute.tf32`` asks for TF32; PyTorch's
  own default allows TF32 in cuDNN convolutions, which this overrides. ``compute.cudnn_benchmark`` lets
  cuDNN time and choose algorithms (faster, but the choice, and so the rounding, can differ between runs);
  ``compute.deterministic`` turns on ``torch.use_deterministic_algorithms`` and cuDNN's deterministic
  mode (and sets ``CUBLAS_WORKSPACE_CONFIG`` as cuBLAS requires), so that a resumed run ends bitwise equal to
  an uninterrupted one on a GPU as on the CPU; an op without a deterministic implementation then stops
  with torch's error naming it.

On a CPU these flags change nothing numerically, but they are set and restored all the same (tested).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from progan.config import ComputeConfig

_CUBLAS_ENV = "CUBLAS_WORKSPACE_CONFIG"
_CUBLAS_DETERMINISTIC = ":4096:8"


@dataclass(frozen=True)
class NumericsState:
    """The process-wide flags this module sets."""

    tf32_matmul: str              # "ieee" | "tf32" | "none" (inherit), or the legacy flag as "tf32"/"ieee"
    tf32_conv: str
    cudnn_benchmark: bool
    cudnn_deterministic: bool
    deterministic: bool
    deterministic_warn_only: bool
    cublas_workspace: str | None


def _new_api() -> bool:
    # torch >= 2.9 spells TF32 as fp32_precision; mixing it with the legacy allow_tf32 flags is an error
    # there.
    return hasattr(torch.backends.cuda.matmul, "fp32_precision") and hasattr(torch.backends.cudnn, "conv")


def current() -> NumericsState:
    """The flags as they are now."""
    if _new_api():
        matmul = str(torch.backends.cuda.matmul.fp32_precision)
        conv = str(torch.backends.cudnn.conv.fp32_precision)  # type: ignore[attr-defined]
    else:
        matmul = "tf32" if torch.backends.cuda.matmul.allow_tf32 else "ieee"
        conv = "tf32" if torch.backends.cudnn.allow_tf32 else "ieee"
    return NumericsState(
        tf32_matmul=matmul, tf32_conv=conv,
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
        cudnn_deterministic=bool(torch.backends.cudnn.deterministic),
        deterministic=torch.are_deterministic_algorithms_enabled(),
        deterministic_warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
        cublas_workspace=os.environ.get(_CUBLAS_ENV),
    )


def apply(state: NumericsState) -> None:
    """Set every flag of ``state``."""
    if _new_api():
        torch.backends.cuda.matmul.fp32_precision = state.tf32_matmul
        torch.backends.cudnn.conv.fp32_precision = state.tf32_conv  # type: ignore[attr-defined]
    else:
        torch.backends.cuda.matmul.allow_tf32 = state.tf32_matmul == "tf32"
        torch.backends.cudnn.allow_tf32 = state.tf32_conv == "tf32"
    torch.backends.cudnn.benchmark = state.cudnn_benchmark
    torch.backends.cudnn.deterministic = state.cudnn_deterministic
    torch.use_deterministic_algorithms(state.deterministic, warn_only=state.deterministic_warn_only)
    if state.cublas_workspace is None:
        os.environ.pop(_CUBLAS_ENV, None)
    else:
        os.environ[_CUBLAS_ENV] = state.cublas_workspace


@contextlib.contextmanager
def scoped(state: NumericsState) -> Iterator[NumericsState]:
    """Apply ``state`` inside, restore the previous flags on exit."""
    before = current()
    apply(state)
    try:
        yield state
    finally:
        apply(before)


def training_state(*, tf32: bool = False, cudnn_benchmark: bool = False, deterministic: bool = False,
                   base: NumericsState | None = None) -> NumericsState:
    """The training policy for ``compute.tf32``, ``compute.cudnn_benchmark`` and ``compute.deterministic``."""
    base = base or current()
    precision = "tf32" if tf32 else "ieee"
    return NumericsState(
        tf32_matmul=precision, tf32_conv=precision,
        cudnn_benchmark=cudnn_benchmark and not deterministic,
        cudnn_deterministic=deterministic,
        deterministic=deterministic,
        deterministic_warn_only=False,
        cublas_workspace=((base.cublas_workspace or _CUBLAS_DETERMINISTIC) if deterministic
                          else base.cublas_workspace),
    )


def training_numerics(compute: ComputeConfig) -> contextlib.AbstractContextManager[NumericsState]:
    """:func:`scoped` training policy of ``compute``."""
    return scoped(training_state(tf32=compute.tf32, cudnn_benchmark=compute.cudnn_benchmark,
                                 deterministic=compute.deterministic))


@contextlib.contextmanager
def metric_numerics() -> Iterator[None]:
    """TF32 off for matmuls and convolutions inside (the rest as it was); usable as a decorator."""
    before = current()
    apply(dataclasses.replace(before, tf32_matmul="ieee", tf32_conv="ieee"))
    try:
        yield
    finally:
        apply(before)
