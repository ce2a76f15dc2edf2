"""``progan train --gpus N``: start N local processes that train together (the one-node form of torchrun)."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import torch.multiprocessing as mp

from progan.config import TrainConfig
from progan.training.distributed import free_port
from progan.training.loop import train


class LaunchError(RuntimeError):
    """A rank failed; the others were stopped. The last snapshot is intact."""


def _worker(rank: int, cfg: TrainConfig, world_size: int, port: int, result_file: str,
            progress: bool) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    run_dir = train(cfg, progress=progress)
    if rank == 0:
        Path(result_file).write_text(str(run_dir), encoding="utf-8")


def launch(cfg: TrainConfig, nproc: int, *, progress: bool = True) -> Path:
    """Train with ``nproc`` processes on this node (gloo on CPU, NCCL on CUDA); returns the run folder."""
    with tempfile.TemporaryDirectory() as tmp:
        result = os.path.join(tmp, "run_dir")
        # torch logs one warning per rank it terminates; the LaunchError below already says all ranks stopped.
        spawn_log = logging.getLogger("torch.multiprocessing.spawn")
        level = spawn_log.level
        spawn_log.setLevel(logging.ERROR)
        try:
            mp.start_processes(_worker, args=(cfg, nproc, free_port(), result, progress), nprocs=nproc,
                               join=True, start_method="spawn")
        except mp.ProcessRaisedException as e:
            last = [line for line in str(e).strip().splitlines() if line.strip()][-1]
            raise LaunchError(f"rank {e.error_index} failed, all ranks stopped: {last.strip()}") from None
        except mp.ProcessExitedException as e:
            how = f"was killed by {e.signal_name}" if e.signal_name else f"exited with code {e.exit_code}"
            raise LaunchError(f"rank {e.error_index} {how}, all ranks stopped; snapshots are written "
                              "atomically, so --resume latest continues from the last one") from None
        finally:
            spawn_log.setLevel(level)
        return Path(Path(result).read_text(encoding="utf-8"))
