"""Keep N processes and micro-batches equivalent to one process with the whole batch, or say where not.

What makes a split batch differ from the whole one is declared by the networks
(:mod:`progan.networks.coupling`). Minibatch-stddev groups that a split would cut are refused before
training by :func:`progan.training.schedule.check_batch_layout`; spectral norm needs nothing (the steps
advance it once per step, :mod:`progan.nn.spectral`). At the start of training :func:`prepare`

- switches cross-replica statistics on for the batch norms (``compute.sync_bn``, on by default), so BN
  sees the global batch over any number of processes;
- prints one warning line (rank 0) for what stays non-equivalent: batch-norm statistics per process
  (``compute.sync_bn=false``) or per micro-batch (``compute.batch_per_device`` with BN: the statistics
  of one micro-batch cannot include samples whose forward pass has not run yet).
"""

from __future__ import annotations

from torch import nn

from progan.config import TrainConfig
from progan.networks.coupling import coupling_of
from progan.nn.crossreplica import set_cross_replica
from progan.training.distributed import World
from progan.training.notices import warn_line
from progan.training.schedule import schedule_resolutions


def non_equivalences(cfg: TrainConfig, world_size: int, G: nn.Module, D: nn.Module) -> list[str]:
    """What makes this run differ from one process with the whole batch (beyond float rounding)."""
    bn_nets = [name for name, net in (("G", G), ("D", D)) if coupling_of(net).batch_norm]
    if not bn_nets:
        return []
    notes = []
    which = " and ".join(bn_nets)
    if world_size > 1 and not cfg.compute.sync_bn:
        notes.append(f"batch-norm statistics of {which} are per process (compute.sync_bn=false)")
    micro = cfg.compute.batch_per_device
    split = [res for res in schedule_resolutions(cfg.schedule, cfg.network.resolution)
             if 0 < micro < cfg.schedule.minibatch.get(res, cfg.schedule.minibatch_base) // world_size]
    if split:
        where = f"{split[0]}px" if len(split) == 1 else f"{split[0]}-{split[-1]}px"
        notes.append(f"batch-norm statistics of {which} are per micro-batch of {micro} at {where} "
                     "(compute.batch_per_device)")
    return notes


def prepare(G: nn.Module, D: nn.Module, cfg: TrainConfig, world: World) -> list[str]:
    """Cross-replica BN on (with ``compute.sync_bn`` and several processes), and one warning line from rank 0
    naming what is not equivalent; returns those notes."""
    cross_replica = cfg.compute.sync_bn and world.distributed
    for net in (G, D):
        set_cross_replica(net, cross_replica)
    notes = non_equivalences(cfg, world.world_size, G, D)
    if notes:
        warn_line("progan train: warning: not equivalent to one process with the whole batch: "
                  + "; ".join(notes) + " (README: Speed and scale)", main=world.is_main)
    return notes
