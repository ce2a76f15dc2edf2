"""Run by torchrun from test_cross_replica.py; also imported there for the single-process reference.

``python -m torch.distributed.run --nproc_per_node 2 bn_worker.py OUTDIR`` trains a tiny BigGAN (conditional
BN in G, spectral norm in G and D) for a few D and G steps (plain SGD: Adam would turn the rounding noise
in the zero gradient of a conv bias right before a batch norm into full-size steps, in one process as in
two) on each rank's half of fixed global batches,
once with cross-replica BN and once with per-rank BN, and writes rank 0's final state to
OUTDIR/<mode>.safetensors. It also writes OUTDIR/partial-<rank>.json: what ``sync_grads`` does with a
parameter that has a gradient on rank 0 only and one that has none anywhere.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from progan.config import LossConfig, NetworkConfig
from progan.networks import build_discriminator, build_generator
from progan.nn.crossreplica import set_cross_replica
from progan.training.distributed import World, sync_grads
from progan.training.stats import Collector
from progan.training.steps import StepContext, d_step, g_step

BATCH, STEPS = 8, 3
CFG = {"architecture": "biggan", "resolution": 16, "channels": 1, "num_classes": 3,
       "conditioning": "projection", "latent_size": 24, "hierarchical_z": True, "spectral_norm": "both",
       "ortho_init": True, "biggan_ch": 4, "shared_dim": 8, "attention": [8], "normalize_latents": False}


def train_state(world: World, cross_replica: bool) -> dict[str, torch.Tensor]:
    """STEPS iterations (hinge, SGD) on this rank's share of the global batches; the final state."""
    torch.manual_seed(0)
    cfg = NetworkConfig(**CFG)
    G, D = build_generator(cfg), build_discriminator(cfg)
    set_cross_replica(G, cross_replica)
    opt_G = torch.optim.SGD(G.parameters(), lr=0.05)
    opt_D = torch.optim.SGD(D.parameters(), lr=0.05)
    ctx = StepContext(torch.device("cpu"), world=world)
    gen = torch.Generator().manual_seed(1)
    b = BATCH // world.world_size
    mine = slice(world.rank * b, (world.rank + 1) * b)
    loss = LossConfig(kind="hinge")
    for _ in range(STEPS):
        reals = torch.randn(BATCH, 1, 16, 16, generator=gen).tanh()
        labels = torch.randint(3, (BATCH,), generator=gen)
        z, z_g = torch.randn(BATCH, 24, generator=gen), torch.randn(BATCH, 24, generator=gen)
        assert d_step(G, D, opt_D, loss, reals[mine], labels[mine], z[mine], Collector(None), ctx)
        assert g_step(G, D, opt_G, loss, z_g[mine], labels[mine], Collector(None), ctx)
    state = ({f"G.{k}": v for k, v in G.state_dict().items()}
             | {f"D.{k}": v for k, v in D.state_dict().items()})
    return {k: v.detach().clone().contiguous() for k, v in state.items()}


def partial_grads(world: World) -> dict[str, object]:
    a, b = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2))
    if world.rank == 0:
        a.grad = torch.full((3,), 4.0)
    sync_grads([a, b], world)
    return {"a": None if a.grad is None else a.grad.tolist(),
            "b": None if b.grad is None else b.grad.tolist()}


def main(out: Path) -> None:
    dist.init_process_group("gloo")
    world = World(rank=dist.get_rank(), world_size=dist.get_world_size())
    torch.set_num_threads(1)
    try:
        (out / f"partial-{world.rank}.json").write_text(json.dumps(partial_grads(world)))
        for mode in ("cross-replica", "per-rank"):
            state = train_state(world, mode == "cross-replica")
            if world.rank == 0:
                save_file(state, str(out / f"{mode}.safetensors"))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(Path(sys.argv[1]))
