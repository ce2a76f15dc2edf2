"""The GPU numerics policy, checked on the CPU: flags applied inside their scope and restored after it, by
``training_numerics`` (and by ``train`` around a whole run), and TF32 off inside ``evaluate``."""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch

from progan import numerics
from progan.config import ComputeConfig
from progan.errors import UserError


def test_training_flags_are_applied_and_restored() -> None:
    before = numerics.current()
    assert not before.deterministic  # the suite's default
    with numerics.training_numerics(ComputeConfig(tf32=True, deterministic=True)):
        now = numerics.current()
        assert (now.tf32_matmul, now.tf32_conv) == ("tf32", "tf32")
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] in (":4096:8", before.cublas_workspace)
    assert numerics.current() == before
    with numerics.training_numerics(ComputeConfig(cudnn_benchmark=True)):
        now = numerics.current()
        assert torch.backends.cudnn.benchmark and not torch.are_deterministic_algorithms_enabled()
        assert (now.tf32_matmul, now.tf32_conv) == ("ieee", "ieee")  # TF32 only when asked for
    assert numerics.current() == before


def test_flags_are_restored_when_the_scope_raises() -> None:
    before = numerics.current()
    with pytest.raises(KeyError), numerics.training_numerics(ComputeConfig(deterministic=True)):
        raise KeyError("boom")
    assert numerics.current() == before


def test_metric_numerics_turns_tf32_off_and_keeps_the_rest() -> None:
    training = numerics.training_state(tf32=True, deterministic=True)
    with numerics.scoped(training):
        with numerics.metric_numerics():
            inside = numerics.current()
        assert numerics.current() == training
    assert inside == dataclasses.replace(training, tf32_matmul="ieee", tf32_conv="ieee")


def test_evaluate_runs_without_tf32(monkeypatch, tmp_path) -> None:
    from progan.metrics import registry

    seen = []

    def first_step_of_evaluate(names):  # records the flags evaluate's body runs with, then stops it
        seen.append(numerics.current())
        raise UserError("stop here")

    monkeypatch.setattr(registry, "check_metric_names", first_step_of_evaluate)
    with numerics.training_numerics(ComputeConfig(tf32=True)), pytest.raises(UserError, match="stop here"):
        registry.evaluate(None, tmp_path, ["swd"], real_vs_real=True)
    assert (seen[0].tf32_matmul, seen[0].tf32_conv) == ("ieee", "ieee")


def test_deterministic_and_cudnn_benchmark_exclude_each_other() -> None:
    with pytest.raises(UserError, match="exclude each other"):
        ComputeConfig(deterministic=True, cudnn_benchmark=True).validate()


@pytest.mark.slow
def test_train_applies_the_flags_for_the_run_and_restores_them(tiny_data_16, tmp_path, monkeypatch) -> None:
    from progan.config_io import apply_override
    from progan.presets import get_preset
    from progan.training import loop, trainer

    seen = []
    real_d_step = trainer.d_step

    def spy(*args, **kwargs):
        seen.append(numerics.current())
        return real_d_step(*args, **kwargs)

    monkeypatch.setattr(trainer, "d_step", spy)
    cfg = get_preset("tiny")
    for a in (f"run.data={tiny_data_16}", f"run.outdir={tmp_path}", "schedule.total_kimg=0.016",
              "run.device=cpu", "compute.deterministic=true", "compute.tf32=true"):
        apply_override(cfg, a)
    before = numerics.current()
    loop.train(cfg, progress=False)
    assert seen and all(s.deterministic and s.cudnn_deterministic and s.tf32_conv == "tf32" for s in seen)
    assert numerics.current() == before


@pytest.fixture(scope="module")
def tiny_data_16(tmp_path_factory: pytest.TempPathFactory, fashion_mnist_dir):
    from progan.data import prepare

    out = tmp_path_factory.mktemp("data") / "fm"
    prepare(fashion_mnist_dir, out, resolution=16, max_images=64, progress=False)
    return out
