"""Run by torchrun from test_distributed.py: rank 0 is busy longer than the collective timeout.

``python -m torch.distributed.run --nproc_per_node 2 wait_worker.py OUTDIR wait|nowait``: every rank joins
with a 2 s timeout, rank 0 sleeps 5 s (as if scoring metrics), then all ranks all-reduce. With ``wait`` the
other ranks first wait in ``wait_for_main``; each rank writes OUTDIR/rank-<r>.txt with "ok" or the error.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist


def main(out: Path, mode: str) -> None:
    from progan.training import distributed as dist_utils

    world = dist_utils.world_from_env()
    dist_utils.init_process_group(world, torch.device("cpu"), timeout_s=2)
    result = "ok"
    try:
        if world.rank == 0:
            time.sleep(5)
        if mode == "wait":
            dist_utils.wait_for_main(world)
        x = torch.ones(1)
        dist.all_reduce(x)
        assert x.item() == world.world_size
    except Exception as e:  # noqa: BLE001 - the test reads what happened
        result = f"{type(e).__name__}: {e}".splitlines()[0]
    (out / f"rank-{world.rank}.txt").write_text(result)
    if result == "ok":
        # Leaving with live gloo groups can abort the interpreter at exit ("terminate called without an active
        # exception"), and torchrun then stops the other rank before it writes its result.
        dist_utils.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
