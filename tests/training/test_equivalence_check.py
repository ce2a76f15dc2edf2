"""The start-of-training check: cross-replica BN switched on for several processes, splits that cannot run
refused with one line, and one warning line (rank 0 only) naming exactly what is not equivalent."""

from __future__ import annotations

import pytest

from progan.config_io import apply_override
from progan.errors import UserError
from progan.networks import build_discriminator, build_generator
from progan.nn.crossreplica import CrossReplicaBatchNorm2d
from progan.presets import get_preset
from progan.training.distributed import World
from progan.training.equivalence import call_sizes, non_equivalences, prepare, schedule_minibatches


def _cfg(preset: str, *overrides: str):
    cfg = get_preset(preset)
    for a in overrides:
        apply_override(cfg, a)
    cfg.network.num_classes = 3 if cfg.network.conditioning != "none" else 0
    return cfg


def _check(cfg, world_size: int) -> list[str]:
    return non_equivalences(cfg, world_size, build_generator(cfg.network), build_discriminator(cfg.network))


BIGGAN = ("network.biggan_ch=2", "network.latent_size=15", "network.shared_dim=4", "network.attention=",
          "network.resolution=16", "schedule.initial_resolution=16")


def test_schedule_and_call_sizes() -> None:
    assert schedule_minibatches(_cfg("tiny")) == {4: 8, 8: 8, 16: 8}
    assert schedule_minibatches(_cfg("biggan-fashion-mnist", *BIGGAN)) == {16: 32}
    assert call_sizes(8, 0) == [8] and call_sizes(8, 8) == [8] and call_sizes(10, 4) == [2, 4]


def test_plain_splits_are_equivalent() -> None:
    assert _check(_cfg("tiny"), 1) == []
    assert _check(_cfg("tiny"), 2) == []                                  # 4 per process: one whole group
    assert _check(_cfg("tiny", "compute.batch_per_device=4"), 1) == []    # two micro-batches of whole groups
    assert _check(_cfg("biggan-fashion-mnist", *BIGGAN), 4) == []         # cross-replica BN (the default)


def test_what_is_not_equivalent_is_named() -> None:
    assert _check(_cfg("biggan-fashion-mnist", *BIGGAN, "compute.batch_per_device=8"), 2) == [
        "batch-norm statistics of G are per micro-batch of 8 at 16px (compute.batch_per_device)"]
    assert _check(_cfg("biggan-fashion-mnist", *BIGGAN, "compute.sync_bn=false"), 2) == [
        "batch-norm statistics of G are per process (compute.sync_bn=false)"]
    assert _check(_cfg("biggan-fashion-mnist", *BIGGAN, "compute.sync_bn=false"), 1) == []
    assert _check(_cfg("tiny"), 4) == [
        f"minibatch-stddev groups of 4 shrink to the 2 samples of each process at {r}px" for r in (4, 8, 16)]
    # A progressive G with conditional BN is batch-coupled too.
    cbn = _cfg("tiny", "network.conditioning=projection", "network.g_norm=cbn", "compute.batch_per_device=4",
               "schedule.minibatch_base=16")
    assert _check(cbn, 1) == [f"batch-norm statistics of G are per micro-batch of 4 at {r}px "
                              "(compute.batch_per_device)" for r in (4, 8, 16)]


@pytest.mark.parametrize("overrides, world, message", [
    ((), 3, "must be a multiple of the number of processes"),
    (("schedule.minibatch_base=6",), 1, "multiple of network.mbstd_group_size"),
    (("compute.batch_per_device=6", "schedule.minibatch_base=16"), 1, "each process computes D on 6 samples"),
])
def test_splits_that_cannot_run_are_refused(overrides, world, message) -> None:
    with pytest.raises(UserError, match=message):
        _check(_cfg("tiny", *overrides), world)


def test_prepare_switches_cross_replica_bn_on_and_warns_once_from_rank_0(capsys) -> None:
    cfg = _cfg("biggan-fashion-mnist", *BIGGAN, "compute.batch_per_device=8")
    G, D = build_generator(cfg.network), build_discriminator(cfg.network)
    norms = [m for m in G.modules() if isinstance(m, CrossReplicaBatchNorm2d)]
    assert norms and not any(m.cross_replica for m in norms)
    prepare(G, D, cfg, World(rank=1, world_size=2))
    assert all(m.cross_replica for m in norms) and capsys.readouterr().err == ""
    prepare(G, D, cfg, World(rank=0, world_size=2))
    err = capsys.readouterr().err
    assert err == ("progan train: warning: not equivalent to one process with the whole batch: batch-norm "
                   "statistics of G are per micro-batch of 8 at 16px (compute.batch_per_device) (README: Speed "
                   "and scale)\n")
    prepare(G, D, cfg, World())  # one process: plain batch norm
    assert not any(m.cross_replica for m in norms)
