"""Multi-process training on ``torch.distributed`` (torchrun or ``progan train --gpus N``).

Gradients are averaged by an explicit all-reduce after each backward rather than
by wrapping the networks in DistributedDataParallel: the gradient penalty's double
backward and the freezing of D during the G step then need no special care (the
approach of stylegan3's training loop). gloo on CPU, NCCL on CUDA.
"""

from __future__ import annotations

import ctypes
import datetime
import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def world_from_env() -> World:
    """The world torchrun (or our own launcher) describes in RANK / WORLD_SIZE / LOCAL_RANK."""
    return World(
        rank=int(os.environ.get("RANK", "0")),
        world_size=int(os.environ.get("WORLD_SIZE", "1")),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


# Ranks wait here while rank 0 scores metrics: that may take longer than ``dist_timeout_s``, which is meant to
# catch a rank that went silent during training steps, so this wait has a group (and timeout) of its own.
_WAIT_FOR_MAIN_TIMEOUT = datetime.timedelta(hours=24)
_wait_group: dist.ProcessGroup | None = None


def _exit_with_launcher() -> None:
    """Under torchrun, ask Linux to send this worker SIGTERM when its launcher dies, even by SIGKILL: torchrun
    stops its workers when it is terminated, but not when it is killed, and an orphaned worker would keep
    training with the other nodes as if its node were alive."""
    if "TORCHELASTIC_RUN_ID" not in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the launcher died before the request
        os.kill(os.getpid(), signal.SIGTERM)


def init_process_group(world: World, device: torch.device, timeout_s: int) -> None:
    """Join the process group once (no-op for a single process)."""
    global _wait_group
    if not world.distributed or dist.is_initialized():
        return
    _exit_with_launcher()
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, rank=world.rank, world_size=world.world_size,
                            timeout=datetime.timedelta(seconds=timeout_s))
    _wait_group = dist.new_group(backend="gloo", timeout=_WAIT_FOR_MAIN_TIMEOUT)


def wait_for_main(world: World) -> None:
    """Block every rank until rank 0 arrives too (after its rank-0-only work), with a 24 h timeout.

    A rank that dies still ends the wait at once: gloo sees its connections close.
    """
    if world.distributed and _wait_group is not None:
        dist.barrier(group=_wait_group)


def shutdown() -> None:
    global _wait_group
    if dist.is_initialized():
        dist.destroy_process_group()
    _wait_group = None


def all_reduce_mean_(grads: list[torch.Tensor], world: World) -> None:
    """Average gradients over ranks in one flat all-reduce."""
    if not world.distributed or not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.world_size
    for g, piece in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(piece.view_as(g))


def sync_grads(params: Iterable[torch.nn.Parameter], world: World) -> None:
    """Average over ranks the gradients of exactly the parameters that received one on some rank.

    A parameter without a gradient on every rank (a block not active at this lod) keeps ``grad = None``,
    so the optimizer skips it as it does in one process: Adam counts no step for it and keeps no moments,
    and a block that fades in later starts its bias correction at its first real update whatever the
    number of processes (with ``optim.reset_on_lod_change=false`` this is visible: zero gradients would
    count steps). A parameter that has a gradient on some ranks only gets zeros on the others (their
    samples did not reach it), which is what its share of the global batch contributes.
    Two all-reduces: the flags of who has a gradient, then the gradients themselves.
    """
    if not world.distributed:
        return
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    device = params[0].device
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
    dist.all_reduce(has)
    reduced = [p for p, n in zip(params, has.tolist()) if n > 0]
    for p in reduced:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    all_reduce_mean_([p.grad for p in reduced if p.grad is not None], world)


def peer_failure(error: BaseException) -> str | None:
    """The first line of ``error`` if it is a collective failing because another process went away (closed
    connection, timeout, aborted communicator), else None. gloo raises these as plain RuntimeErrors that name
    it; NCCL and the store raise ``torch.distributed.DistError``."""
    dist_error = getattr(dist, "DistError", ())
    text = str(error).strip()
    if isinstance(error, dist_error) or (isinstance(error, RuntimeError)
                                         and ("gloo" in text or "NCCL" in text)):
        first = text.splitlines()[0] if text else type(error).__name__
        first = first.split("] ", 1)[-1].split(". ", 1)[0]  # without gloo's source-file prefix and its advice
        return first[:200]
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
