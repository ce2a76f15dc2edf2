"""Keep N processes and micro-batches equivalent to one process with the whole batch, or say where not.

What makes a split batch differ from the whole one is declared by the networks
(:mod:`progan.networks.coupling`). At the start of training, :func:`prepare`

- switches cross-replica statistics on for the batch norms (``compute.sync_bn``, on by default), so BN
  sees the global batch over any number of processes;
- refuses (one-line error) a schedule whose minibatch cannot be split over the processes, or whose
  per-process or micro-batch is not a whole number of minibatch-stddev groups (the layer would fail);
- returns, for one warning line, what stays non-equivalent: batch-norm statistics per process
  (``compute.sync_bn=false``) or per micro-batch (``compute.batch_per_device`` with BN: the statistics of
  one micro-batch cannot include samples whose forward pass has not run yet), and minibatch-stddev groups
  shrunk to a per-process or micro-batch smaller than the group size.

Spectral norm needs nothing here: the steps advance it once per step (:mod:`progan.nn.spectral`).
"""

from __future__ import annotations

from torch import nn

from progan.config import TrainConfig
from progan.errors import UserError
from progan.networks.coupling import coupling_of
from progan.nn.crossreplica import set_cross_replica
from progan.training.distributed import World
from progan.training.notices import warn_line


def schedule_minibatches(cfg: TrainConfig) -> dict[int, int]:
    """``{resolution: global minibatch}`` for every resolution the schedule trains at."""
    s, final = cfg.schedule, cfg.network.resolution
    growing = s.lod_training_kimg + s.lod_transition_kimg > 0
    res, out = (s.initial_resolution if growing else final), {}
    while res <= final:
        out[res] = s.minibatch.get(res, s.minibatch_base)
        res *= 2
    return out


def call_sizes(per_rank: int, micro: int) -> list[int]:
    """Batch sizes of the calls one rank makes for ``per_rank`` samples in micro-batches of ``micro`` (0: one)."""
    step = micro if 0 < micro < per_rank else per_rank
    return sorted({step} | ({per_rank % step} if per_rank % step else set()))


def non_equivalences(cfg: TrainConfig, world_size: int, G: nn.Module, D: nn.Module) -> list[str]:
    """What makes this run differ from one process with the whole batch (beyond float rounding); raises
    :class:`UserError` for splits that cannot run at all."""
    notes: list[str] = []
    micro = cfg.compute.batch_per_device
    g_coupling, d_coupling = coupling_of(G), coupling_of(D)
    group = d_coupling.mbstd_group
    bn_nets = [name for name, c in (("G", g_coupling), ("D", d_coupling)) if c.batch_norm]
    if bn_nets and world_size > 1 and not cfg.compute.sync_bn:
        notes.append(f"batch-norm statistics of {' and '.join(bn_nets)} are per process (compute.sync_bn=false)")
    for res, batch in schedule_minibatches(cfg).items():
        if batch % world_size:
            raise UserError(f"the minibatch at {res}px ({batch}) must be a multiple of the number of processes "
                            f"({world_size}); change schedule.minibatch or the number of processes")
        whole = min(group, batch) if group > 1 else 0
        if whole and batch % whole:
            raise UserError(f"the minibatch at {res}px ({batch}) must be a multiple of network.mbstd_group_size "
                            f"({group})")
        for size in call_sizes(batch // world_size, micro):
            if whole and size >= whole and size % whole:
                raise UserError(f"at {res}px each process computes D on {size} samples, not a multiple of "
                                f"network.mbstd_group_size ({group}); change compute.batch_per_device, "
                                f"schedule.minibatch or the number of processes")
            if whole and size < whole:
                notes.append(f"minibatch-stddev groups of {whole} shrink to the {size} samples of each "
                             f"process{' and micro-batch' if micro else ''} at {res}px")
            if bn_nets and size < batch // world_size:
                notes.append(f"batch-norm statistics of {' and '.join(bn_nets)} are per micro-batch of {size} at "
                             f"{res}px (compute.batch_per_device)")
    return list(dict.fromkeys(notes))


def prepare(G: nn.Module, D: nn.Module, cfg: TrainConfig, world: World) -> list[str]:
    """Cross-replica BN on (with ``compute.sync_bn`` and several processes), the checks above, and one warning
    line from rank 0 naming what is not equivalent; returns those notes."""
    cross_replica = cfg.compute.sync_bn and world.distributed
    for net in (G, D):
        set_cross_replica(net, cross_replica)
    notes = non_equivalences(cfg, world.world_size, G, D)
    if notes:
        warn_line("progan train: warning: not equivalent to one process with the whole batch: " + "; ".join(notes)
                  + " (README: Speed and scale)", main=world.is_main)
    return notes
