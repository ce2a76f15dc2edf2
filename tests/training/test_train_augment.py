"""Augmentation in the training loop: off-equivalence at p=0, bitwise resume with ADA, the same p under
DDP as in one process, and the BigGAN / conditional / bf16 / DiffAugment paths."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from progan.config_io import apply_override
from progan.presets import get_preset
from progan.training.checkpoint import read_checkpoint
from progan.training.launch import launch
from progan.training.loop import train
from progan.training.snapshots import list_snapshots

pytestmark = pytest.mark.slow

ADA = ("augment.kind=ada", "loss.kind=non-saturating", "loss.r1_gamma=1", "augment.speed_kimg=0.5",
       "augment.interval=2", "augment.p=0.2")


def _tensors(run: Path, prefixes: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    with safe_open(str(list_snapshots(run)[-1]), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys() if not prefixes or k.startswith(prefixes)}  # noqa: SIM118


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def test_ada_at_a_fixed_p_of_0_trains_bit_for_bit_like_no_augmentation(tiny_data: Path, tiny_config,
                                                                      tmp_path: Path) -> None:
    off = train(tiny_config(tiny_data, tmp_path / "off", 0.3), progress=False)
    zero = train(tiny_config(tiny_data, tmp_path / "zero", 0.3, "augment.kind=ada", "augment.target=0",
                             "augment.pipeline=bgcfnc"), progress=False)
    a, b = _tensors(off, ("G.", "D.", "G_ema.")), _tensors(zero, ("G.", "D.", "G_ema."))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(r["augment/p"] == 0.0 for r in _rows(zero)) and "augment/p" not in _rows(off)[-1]
    # The augmentation draws from a generator of its own, saved with the others.
    assert "rng/augment" in _tensors(zero) and "rng/augment" not in _tensors(off)


@pytest.fixture(scope="module")
def ada_run(tiny_data: Path, tiny_config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(tiny_config(tiny_data, tmp_path_factory.mktemp("ada"), 0.5, *ADA), progress=False)


def test_ada_logs_p_and_r_t_and_moves_p(ada_run: Path) -> None:
    rows = _rows(ada_run)
    ps = [r["augment/p"] for r in rows]
    assert all(0 <= p <= 1 for p in ps) and len(set(ps)) > 2
    assert all(-1 <= r["scores/real_sign"] <= 1 and -1 <= r["augment/rt"] <= 1 for r in rows)
    # Each update moves p by interval * minibatch / (speed_kimg * 1000) = 2 * 8 / 500.
    steps = {round(abs(b - a) / (16 / 500), 6) for a, b in zip([0.2] + ps, ps)}
    assert all(s == int(s) for s in steps), steps
    assert (ada_run / "plot.png").exists()
    log = (ada_run / "log.txt").read_text()
    assert f"p {ps[-1]:.3f} rt " in log


def test_resume_with_ada_is_bitwise_equal_to_an_uninterrupted_run(ada_run: Path, tiny_data: Path, tiny_config,
                                                                  tmp_path: Path) -> None:
    first = train(tiny_config(tiny_data, tmp_path, 0.25, *ADA), progress=False)
    resumed = train(tiny_config(tiny_data, tmp_path, 0.5, *ADA, "run.resume=latest"), progress=False)
    assert resumed == first
    a, b = _tensors(ada_run), _tensors(resumed)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]
    # The interrupted run's last tick was cut short, so the tick rows differ; the end state does not.
    assert _rows(ada_run)[-1]["augment/p"] == _rows(resumed)[-1]["augment/p"]
    state = [read_checkpoint(list_snapshots(r)[-1], prefixes=()).extra["augment"] for r in (ada_run, resumed)]
    assert state[0] == state[1] and state[0]["controller"]["p"] == _rows(resumed)[-1]["augment/p"]


def test_two_processes_give_the_same_p_as_one(tiny_data: Path, tiny_config, tmp_path: Path) -> None:
    extra = (*ADA, "schedule.tick_kimg_base=0.05", "augment.speed_kimg=0.2", "augment.interval=1")
    one = train(tiny_config(tiny_data, tmp_path / "one", 0.2, *extra), progress=False)
    two = launch(tiny_config(tiny_data, tmp_path / "two", 0.2, *extra), 2, progress=False)
    a, b = _rows(one), _rows(two)
    assert [r["kimg"] for r in a] == [r["kimg"] for r in b]
    assert [r["augment/p"] for r in a] == [r["augment/p"] for r in b]
    assert len({r["augment/p"] for r in a}) > 2
    for x, y in zip(a, b):
        assert y["scores/real_sign"] == pytest.approx(x["scores/real_sign"], abs=1e-6)
        assert y["loss/D"] == pytest.approx(x["loss/D"], rel=1e-3, abs=1e-4)


def test_conditional_biggan_with_ada_in_bf16_and_accumulation(tmp_path: Path, tiny_data: Path) -> None:
    cfg = get_preset("biggan-fashion-mnist")
    for a in (f"run.data={tiny_data}", f"run.outdir={tmp_path}", "run.device=cpu",
              "schedule.total_kimg=0.064", "schedule.minibatch_base=16", "schedule.tick_kimg_base=0.032",
              "network.biggan_ch=4", "network.latent_size=24", "network.shared_dim=8", "compute.threads=1",
              "compute.batch_per_device=8", "compute.precision=bf16", "compute.check_precision=false",
              "augment.kind=ada", "augment.p=0.5", "augment.pipeline=bgcfnc", "augment.speed_kimg=0.1",
              "augment.interval=1"):
        apply_override(cfg, a)
    rows = _rows(train(cfg, progress=False))
    assert rows[-1]["skipped_steps"] == 0
    assert all(math.isfinite(r[k])
               for r in rows for k in ("loss/D", "loss/G", "scores/real_sign", "augment/p"))
    assert rows[-1]["augment/p"] != 0.5   # hinge has a decision boundary at 0: p adapts


def test_diffaugment_run_logs_p_1(tiny_data: Path, tiny_config, tmp_path: Path) -> None:
    rows = _rows(train(tiny_config(tiny_data, tmp_path, 0.2, "augment.kind=diffaug"), progress=False))
    assert all(r["augment/p"] == 1.0 and math.isfinite(r["loss/D"]) for r in rows)
