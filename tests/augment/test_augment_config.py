"""Augmentation settings: validated up front, one-line errors with exit code 2."""

from __future__ import annotations

import pytest

from progan.cli import main
from progan.config import AugmentConfig
from progan.config_io import apply_override, to_dict, train_config_from_dict
from progan.presets import get_preset


@pytest.mark.parametrize("argv, message", [
    (["--augment", "ada", "--loss", "hinge", "--set", "augment.p=1.5"],
     "augment.p must be in [0, 1], got 1.5"),
    (["--augment", "ada", "--loss", "hinge", "--set", "augment.p=-0.1"], "augment.p must be in [0, 1]"),
    (["--augment", "ada", "--loss", "hinge", "--set", "augment.pipeline=bgc,rotat90"],
     "unknown ADA pipeline entry 'rotat90' (did you mean 'rotate90'?)"),
    (["--augment", "diffaug", "--set", "augment.policy=color,translaton"],
     "unknown DiffAugment policy 'translaton' (did you mean 'translation'?)"),
    (["--augment", "ada"], "adaptive ADA (augment.target > 0) needs a loss with a decision boundary"),
    (["--augment", "ada", "--loss", "hinge", "--set", "augment.target=1"],
     "augment.target must be in [0, 1)"),
    (["--augment", "ada", "--loss", "hinge", "--set", "augment.speed_kimg=0"],
     "augment.speed_kimg must be > 0"),
    (["--augment", "ada", "--loss", "hinge", "--set", "augment.interval=0"], "augment.interval must be >= 1"),
    (["--augment", "adaa"], "Invalid value for '--augment'"),
    (["--set", "augment.kind=ADA"], "augment.kind must be one of none, ada, diffaug"),
])
def test_bad_settings_are_one_line_errors_with_exit_code_2(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["train", "--preset", "tiny", "--dry-run", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_colour_operations_need_one_or_three_channels() -> None:
    cfg = get_preset("tiny")
    for a in ("augment.kind=ada", "loss.kind=hinge", "network.channels=2"):
        apply_override(cfg, a)
    with pytest.raises(Exception, match="colour operations need 1 or 3 channels"):
        cfg.validate()
    apply_override(cfg, "augment.pipeline=bg")
    cfg.validate()


def test_augment_section_round_trips_and_defaults_to_off(capsys) -> None:
    cfg = get_preset("tiny")
    assert cfg.augment == AugmentConfig() and cfg.augment.kind == "none"
    apply_override(cfg, "augment.kind=ada")
    apply_override(cfg, "augment.target=0")
    apply_override(cfg, "augment.p=0.3")
    cfg.validate()   # a fixed p is fine with wgan-gp
    assert not cfg.augment.adaptive
    assert train_config_from_dict(to_dict(cfg)) == cfg
    main(["train", "--preset", "tiny", "--dry-run", "--augment", "diffaug"])
    assert '"kind": "diffaug"' in capsys.readouterr().out
