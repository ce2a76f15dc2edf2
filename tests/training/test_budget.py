"""A training budget in minutes: per-level schedules, the plan's arithmetic, re-planning and the end's
retarget."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from progan.config import ScheduleConfig
from progan.presets import get_preset
from progan.training import budget
from progan.training.schedule import lod_at, segments


@pytest.mark.parametrize("kimg", [0, 5, 19.9, 20, 27.5, 40, 55, 61, 79.99, 80, 99, 100, 110, 120, 500])
def test_per_level_lengths_equal_to_the_uniform_ones_give_the_tf_formula(kimg: float) -> None:
    uniform = ScheduleConfig(lod_training_kimg=20, lod_transition_kimg=20)
    per_level = ScheduleConfig(lod_training_kimg=999, lod_transition_kimg=999,
                               training_kimg={r: 20.0 for r in (4, 8, 16, 32)},
                               transition_kimg={r: 20.0 for r in (4, 8, 16, 32)})
    assert lod_at(kimg, per_level, 32) == pytest.approx(lod_at(kimg, uniform, 32), abs=1e-12)


def test_per_level_lengths_place_each_level_where_they_say() -> None:
    sched = ScheduleConfig(lod_training_kimg=10, lod_transition_kimg=10,
                           training_kimg={4: 2.0, 8: 6.0}, transition_kimg={8: 4.0, 16: 8.0})
    # 4x4 stable 0-2, 8x8 fades in 2-6 and is stable 6-12, 16x16 fades in 12-20, stable after.
    assert [(s.resolution, s.fading, s.start_kimg, s.end_kimg) for s in segments(sched, 16)] == [
        (4, False, 0.0, 2.0), (8, True, 2.0, 6.0), (8, False, 6.0, 12.0), (16, True, 12.0, 20.0),
        (16, False, 20.0, math.inf)]
    assert lod_at(1.9, sched, 16) == 2.0
    assert lod_at(4.0, sched, 16) == pytest.approx(1.5)   # half-way through 8x8's fade-in
    assert lod_at(16.0, sched, 16) == pytest.approx(0.5)
    assert lod_at(25.0, sched, 16) == 0.0


def _cfg(minutes: float = 10.0):
    cfg = get_preset("fashion-mnist")
    cfg.run.minutes = minutes
    return cfg


# Seconds per kimg: each level 4x the one below, fading 20% slower (the shape of the demo's numbers).
SPEEDS = {"4": 1.0, "8": 4.0, "8f": 4.8, "16": 16.0, "16f": 19.2, "32": 64.0, "32f": 76.8}


@pytest.mark.parametrize("share", [0.3, 0.5, 0.7])
def test_the_plan_spends_the_budget_and_its_share_at_the_final_resolution(share: float) -> None:
    cfg = _cfg()
    budget.plan_schedule(cfg, SPEEDS, 600.0, share)
    assert budget.remaining_seconds(cfg, 0.0, SPEEDS) == pytest.approx(600.0, rel=1e-9)
    final_start = next(s.start_kimg for s in segments(cfg.schedule, 32) if s.resolution == 32)
    assert budget.remaining_seconds(cfg, final_start, SPEEDS) == pytest.approx(share * 600.0, rel=1e-9)
    # The preset's ratio of fade-in to stable is kept (20:20 there).
    sched = cfg.schedule
    assert sched.training_kimg[8] == pytest.approx(sched.transition_kimg[16])


def test_a_slower_machine_gets_fewer_kimg_in_the_same_minutes() -> None:
    fast, slow = _cfg(), _cfg()
    budget.plan_schedule(fast, SPEEDS, 600.0, 0.5)
    budget.plan_schedule(slow, {k: 2 * v for k, v in SPEEDS.items()}, 600.0, 0.5)
    assert slow.schedule.total_kimg == pytest.approx(fast.schedule.total_kimg / 2)


def test_replanning_after_a_slowdown_still_ends_on_the_budget_without_moving_the_past() -> None:
    cfg = _cfg()
    budget.plan_schedule(cfg, SPEEDS, 600.0, 0.5)
    # Halfway through 8x8's stable phase the machine turns out twice as slow as planned.
    seg = next(s for s in segments(cfg.schedule, 32) if s.resolution == 8 and not s.fading)
    kimg = (seg.start_kimg + seg.end_kimg) / 2
    spent = 600.0 - budget.remaining_seconds(cfg, kimg, SPEEDS)
    lods_before = [lod_at(k, cfg.schedule, 32) for k in (0.0, kimg / 3, kimg)]
    slower = {k: 2 * v for k, v in SPEEDS.items()}
    budget.replan(cfg, kimg, 600.0 - spent, 600.0, 0.5, slower)
    assert [lod_at(k, cfg.schedule, 32) for k in (0.0, kimg / 3, kimg)] == lods_before
    assert budget.remaining_seconds(cfg, kimg, slower) == pytest.approx(600.0 - spent, rel=1e-9)
    final_start = next(s.start_kimg for s in segments(cfg.schedule, 32) if s.resolution == 32)
    assert budget.remaining_seconds(cfg, final_start, slower) == pytest.approx(300.0, rel=1e-9)


def test_the_end_moves_with_the_measured_speed_once_the_final_level_is_stable() -> None:
    cfg = _cfg()
    budget.plan_schedule(cfg, SPEEDS, 600.0, 0.5)
    last = segments(cfg.schedule, 32)[-1]
    assert budget.retarget_total_kimg(cfg, last.start_kimg - 0.1, 100.0, 64.0) == cfg.schedule.total_kimg
    assert (budget.retarget_total_kimg(cfg, last.start_kimg + 1.0, 128.0, 64.0)
            == pytest.approx(last.start_kimg + 3.0))
    assert (budget.retarget_total_kimg(cfg, last.start_kimg + 1.0, -5.0, 64.0)
            == pytest.approx(last.start_kimg + 1.0))


def test_unknown_levels_are_estimated_from_the_nearest_measured_one() -> None:
    cfg = _cfg()
    filled = budget.fill_speeds(cfg, {"8": 4.0})
    assert filled["4"] == 1.0 and filled["16"] == 16.0 and filled["32"] == 64.0 and filled["32f"] == 64.0
    assert budget.fill_speeds(cfg, {}) == {}


@pytest.mark.slow
def test_a_budgeted_run_plans_reaches_the_final_resolution_and_records_its_plan(tiny_data: Path, tiny_config,
                                                                               tmp_path: Path) -> None:
    from progan.training.loop import train

    run = train(tiny_config(tiny_data, tmp_path, 0.5, "run.minutes=0.4"), progress=False)
    options = json.loads((run / "training_options.json").read_text())
    assert options["run"]["minutes"] == 0.4 and set(options["run"]["plan_speeds"]) >= {"4", "8", "8f", "32f"}
    assert options["schedule"]["transition_kimg"]  # the plan's per-level lengths
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["resolution"] == 32 and rows[-1]["lod"] == 0.0
