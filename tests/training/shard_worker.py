"""Run by torchrun from test_distributed.py: every rank generates its share of a metric's samples.

``python -m torch.distributed.run --nproc_per_node N shard_worker.py OUTDIR`` writes OUTDIR/images.npz
(rank 0's gathered images and labels) and OUTDIR/batches-<rank>.txt (how many batches G ran on that rank).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

NUM, BATCH = 10, 3   # 4 batches, the last one short; 2 ranks: two rounds


class TinyG(torch.nn.Module):
    """Conditional stand-in with the attributes generate_samples reads."""

    z_dim, output_resolution, channels, num_classes = 8, 4, 3, 5

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(self.z_dim, 3 * 4 * 4, generator=g))
        self.emb = torch.nn.Parameter(torch.randn(self.num_classes, 3 * 4 * 4, generator=g))
        self.batches = 0

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.batches += 1
        return torch.tanh(z @ self.w + self.emb[labels]).view(-1, 3, 4, 4)


def main(out: Path) -> None:
    from progan.metrics.sources import generate_samples

    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    G = TinyG()
    images, labels = generate_samples(G, NUM, seed=3, batch_size=BATCH, truncation=1.5,
                                     label_pool=np.arange(5), rank=rank, world_size=world)
    (out / f"batches-{rank}.txt").write_text(str(G.batches))
    if rank == 0:
        assert images is not None and labels is not None
        np.savez(out / "images.npz", images=images, labels=labels)
    else:
        assert images is None
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(Path(sys.argv[1]))
