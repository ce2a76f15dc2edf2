"""Typed configuration: presets, overrides, JSON round trip, validation messages."""

from __future__ import annotations

import pytest

from progan.config import NetworkConfig, TrainConfig
from progan.config_io import apply_override, to_dict, train_config_from_dict
from progan.errors import UserError
from progan.presets import PRESETS, get_preset


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_are_valid_and_round_trip_through_json(name: str) -> None:
    cfg = get_preset(name)
    cfg.validate()
    assert train_config_from_dict(to_dict(cfg)) == cfg


def test_presets_hold_the_paper_numbers() -> None:
    hq = get_preset("paper-celebahq")
    assert hq.network.resolution == 1024 and hq.network.latent_size == 512
    assert (hq.schedule.lod_training_kimg, hq.schedule.lod_transition_kimg) == (800, 800)
    assert hq.run.mirror and hq.loss.kind == "wgan-gp" and hq.loss.gp_lambda == 10 and hq.loss.drift == 0.001
    assert (hq.optim.beta1, hq.optim.beta2, hq.optim.eps, hq.optim.ema_beta) == (0.0, 0.99, 1e-8, 0.999)
    cifar = get_preset("paper-cifar10")
    assert (cifar.network.fmap_base, cifar.network.fmap_max, cifar.network.latent_size) == (4096, 128, 128)
    assert cifar.loss.gp_gamma == 750
    assert get_preset("celeba128").network.fmap_base == 2048


def test_overrides_are_typed() -> None:
    cfg = TrainConfig()
    apply_override(cfg, "network.fmap_max=256")
    apply_override(cfg, "schedule.minibatch=4:64,8:32")
    apply_override(cfg, "run.mirror=yes")
    apply_override(cfg, "schedule.total_kimg=0.5")
    apply_override(cfg, "run.metrics=swd,msssim")
    assert cfg.network.fmap_max == 256
    assert cfg.schedule.minibatch == {4: 64, 8: 32}
    assert cfg.run.mirror is True and cfg.schedule.total_kimg == 0.5
    assert cfg.run.metrics == ["swd", "msssim"]


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("network.fmap_mx=3", "did you mean network.fmap_max"),
        ("network.fmap_max=abc", "expected int"),
        ("network.fmap_max=2.5", "expected int"),
        ("run.mirror=maybe", "expected true/false"),
        ("schedule.minibatch=4-64", "RES:VALUE"),
        ("network=3", "is a section"),
        ("nonsense", "section.field=value"),
    ],
)
def test_bad_overrides_give_one_line_errors(assignment: str, message: str) -> None:
    with pytest.raises(UserError, match=message) as info:
        apply_override(TrainConfig(), assignment)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"resolution": 48}, "power of two"),
        ({"resolution": 2048}, "power of two"),
        ({"mbstd_group_size": -1}, "mbstd_group_size"),
        ({"conditioning": "acgan"}, "num_classes must be > 0"),
        ({"conditioning": "magic", "num_classes": 3}, "conditioning must be"),
    ],
)
def test_network_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        NetworkConfig(**kwargs).validate()


def test_fmap_counts_follow_the_paper() -> None:
    cfg = NetworkConfig(resolution=1024)
    # 512 feature maps up to 32x32, then halving to 16 at 1024x1024 (nf(r-1) for the block at 2^r).
    assert [cfg.nf(r - 1) for r in range(2, 11)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]
