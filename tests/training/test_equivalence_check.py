"""The start-of-training check: cross-replica BN switched on for several processes, and one warning line
(rank 0 only) naming exactly what is not equivalent to one process with the whole batch. (Splits that
cut minibatch-stddev groups are refused earlier: ``check_batch_layout``, tests/training/test_schedule.py.)"""

from __future__ import annotations

from progan.config_io import apply_override
from progan.networks import build_discriminator, build_generator
from progan.nn.crossreplica import CrossReplicaBatchNorm2d
from progan.presets import get_preset
from progan.training.distributed import World
from progan.training.equivalence import non_equivalences, prepare


def _cfg(preset: str, *overrides: str):
    cfg = get_preset(preset)
    for a in overrides:
        apply_override(cfg, a)
    cfg.network.num_classes = 3 if cfg.network.conditioning != "none" else 0
    return cfg


def _check(cfg, world_size: int) -> list[str]:
    return non_equivalences(cfg, world_size, build_generator(cfg.network), build_discriminator(cfg.network))


BIGGAN = ("network.biggan_ch=2", "network.latent_size=15", "network.shared_dim=4", "network.attention=",
          "network.resolution=16", "schedule.initial_resolution=16", "schedule.minibatch_base=32")


def test_plain_splits_are_equivalent() -> None:
    assert _check(_cfg("tiny", "schedule.minibatch_base=16"), 2) == []
    assert _check(_cfg("tiny", "schedule.minibatch_base=16", "compute.batch_per_device=4"), 2) == []  # no BN
    assert _check(_cfg("biggan-fashion-mnist", *BIGGAN), 4) == []         # cross-replica BN (the default)
    # = per process:
    assert _check(_cfg("biggan-fashion-mnist", *BIGGAN, "compute.batch_per_device=8"), 4) == []


def test_what_is_not_equivalent_is_named() -> None:
    assert _check(_cfg("biggan-fashion-mnist", *BIGGAN, "compute.batch_per_device=8"), 2) == [
        "batch-norm statistics of G are per micro-batch of 8 at 16px (compute.batch_per_device)"]
    assert _check(_cfg("biggan-fashion-mnist", *BIGGAN, "compute.sync_bn=false"), 2) == [
        "batch-norm statistics of G are per process (compute.sync_bn=false)"]
    assert _check(_cfg("biggan-fashion-mnist", *BIGGAN, "compute.sync_bn=false"), 1) == []
    # A progressive G with conditional BN is batch-coupled too, at every resolution it grows through.
    cbn = _cfg("tiny", "network.conditioning=projection", "network.g_norm=cbn", "compute.batch_per_device=4",
               "schedule.minibatch_base=16", "network.resolution=16")
    assert _check(cbn, 1) == ["batch-norm statistics of G are per micro-batch of 4 at 4-16px "
                              "(compute.batch_per_device)"]


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
                   "statistics of G are per micro-batch of 8 at 16px (compute.batch_per_device) "
                   "(README: Speed and scale)\n")
    prepare(G, D, cfg, World())  # one process: plain batch norm
    assert not any(m.cross_replica for m in norms)


def test_runs_saved_before_cross_replica_bn_resume_with_per_process_statistics() -> None:
    from progan.config_io import train_config_from_dict, upgrade_config_dict

    old = train_config_from_dict(upgrade_config_dict({"compute": {"precision": "fp32"}}))
    assert old.compute.sync_bn is False and get_preset("tiny").compute.sync_bn is True
