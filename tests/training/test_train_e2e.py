"""End-to-end: a tiny run leaves what the README promises, and resume is bitwise exact on CPU."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

import progan
from progan.training.loop import TrainingError, train
from progan.training.snapshots import list_snapshots

pytestmark = pytest.mark.slow


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


@pytest.fixture(scope="module")
def full_run(tiny_data: Path, tiny_config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(tiny_config(tiny_data, tmp_path_factory.mktemp("runs"), 0.5), progress=False)


def test_tiny_run_leaves_grids_plot_stats_and_checkpoint(full_run: Path) -> None:
    names = {p.name for p in full_run.iterdir()}
    assert {"training_options.json", "log.txt", "stats.jsonl", "reals.png", "plot.png"} <= names
    assert any(n.startswith("fakes") and n.endswith(".png") for n in names)
    assert any(n.startswith("events.out.tfevents") for n in names)
    rows = [json.loads(line) for line in (full_run / "stats.jsonl").read_text().splitlines()]
    for key in ("kimg", "lod", "resolution", "minibatch", "img_per_sec", "sec_per_kimg", "loss/D", "loss/G",
                "scores/real", "scores/fake", "skipped_steps", "mem_peak_gb"):
        assert key in rows[-1], key
    assert rows[-1]["kimg"] >= 0.5
    lods = [r["lod"] for r in rows]
    assert lods == sorted(lods, reverse=True) and lods[0] > lods[-1]
    # 0.5 kimg with 0.1 + 0.1 kimg phases from 4x4 at 32x32: lod 3 -> 1 (16x16).
    assert rows[-1]["lod"] == pytest.approx(1.0) and rows[-1]["resolution"] == 16
    assert all(r["skipped_steps"] == 0 for r in rows)

    G = progan.load_generator(list_snapshots(full_run)[-1])
    assert G.output_resolution == 16
    img = G(torch.randn(3, G.z_dim))
    assert img.shape == (3, 1, 16, 16) and torch.isfinite(img).all()


def test_resume_is_bitwise_equal_to_an_uninterrupted_run(full_run: Path, tiny_data: Path, tiny_config,
                                                          tmp_path: Path) -> None:
    first = train(tiny_config(tiny_data, tmp_path, 0.25), progress=False)
    with open(first / "stats.jsonl", "a") as f:
        f.write('{"kimg": 0.3, "torn')  # a line cut by a crash mid-write
    resumed = train(tiny_config(tiny_data, tmp_path, 0.5, "run.resume=latest"), progress=False)
    assert resumed == first  # continues in the same run folder
    kimgs = [json.loads(line)["kimg"] for line in (first / "stats.jsonl").read_text().splitlines()]
    assert kimgs == sorted(kimgs) and len(set(kimgs)) == len(kimgs)  # no torn line, no repeated ticks
    a, b = _tensors(list_snapshots(full_run)[-1]), _tensors(list_snapshots(resumed)[-1])
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:5]


def test_kill_9_then_resume_latest_matches_uninterrupted_run(full_run: Path, tiny_data: Path,
                                                             tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "progan", "train", "--preset", "tiny", "--data", str(tiny_data), "--outdir",
           str(tmp_path), "--device", "cpu", "--kimg", "0.5", "--snap", "1", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if list(tmp_path.glob("*/network-snapshot-*.safetensors")):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    snaps = list(tmp_path.glob("*/network-snapshot-*.safetensors"))
    assert snaps, "no snapshot was written before the kill"
    out = subprocess.run(cmd[:-5] + ["--resume", "latest", "--kimg", "0.5", "--quiet"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    a = _tensors(list_snapshots(full_run)[-1])
    b = _tensors(list_snapshots(snaps[0].parent)[-1])
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith(("G.", "D.", "G_ema.")))


def test_non_finite_steps_are_skipped_then_training_stops(tiny_data: Path, tiny_config, tmp_path: Path,
                                                          monkeypatch) -> None:
    from progan import losses

    real_d_loss = losses.d_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        loss, terms = real_d_loss(*args, **kwargs)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] > 40 else loss), terms

    monkeypatch.setattr(losses, "d_loss", poisoned)
    cfg = tiny_config(tiny_data, tmp_path, 0.5, "optim.max_consecutive_skips=5", "run.snap=1")
    with pytest.raises(TrainingError, match="5 consecutive steps had non-finite gradients"):
        train(cfg, progress=False)
    snaps = list(tmp_path.glob("*/network-snapshot-*.safetensors"))
    assert snaps
    G = progan.load_generator(sorted(snaps)[-1])
    assert all(torch.isfinite(p).all() for p in G.parameters())


def test_max_minutes_stops_at_the_first_tick_past_the_budget(tiny_data: Path, tiny_config,
                                                             tmp_path: Path) -> None:
    run = train(tiny_config(tiny_data, tmp_path, 5.0, "run.max_minutes=0.0001"), progress=False)
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["kimg"] < 5.0
    assert len(list_snapshots(run)) == 1


def test_metrics_during_training_land_in_stats(tiny_data: Path, tiny_config, tmp_path: Path) -> None:
    cfg = tiny_config(tiny_data, tmp_path, 0.3, "run.metrics=swd", "run.metrics_every=1",
                      "run.metrics_num=64")
    run = train(cfg, progress=False)
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert all("metric/swd" in r for r in rows)
    assert all(r["metric/swd"] > 0 for r in rows)
    assert "metric/swd/8" in rows[-1] or "metric/swd/4" in rows[-1]


def test_prefetching_loader_and_resume_train_bitwise_like_the_plain_loader(
        full_run: Path, tiny_data: Path, tiny_config, tmp_path: Path) -> None:
    first = train(tiny_config(tiny_data, tmp_path, 0.25, "compute.prefetch=on"), progress=False)
    resumed = train(tiny_config(tiny_data, tmp_path, 0.5, "run.resume=latest", "compute.prefetch=on"),
                    progress=False)
    a, b = _tensors(list_snapshots(full_run)[-1]), _tensors(list_snapshots(resumed)[-1])
    assert not [k for k in a if not torch.equal(a[k], b[k])]
    assert resumed == first


def test_a_budgeted_run_is_its_plan_and_resumes_bitwise_on_it(tiny_data: Path, tiny_config,
                                                               tmp_path: Path) -> None:
    """The plan is data: a budgeted run equals a plain run of its saved schedule to the same kimg, and that
    schedule resumed from the middle ends bitwise the same (re-planning off, so the clock moves only the
    end)."""
    from progan.config_io import train_config_from_dict

    budgeted = train(tiny_config(tiny_data, tmp_path / "a", 0.5, "run.minutes=0.25", "run.replan=false"),
                     progress=False)
    options = json.loads((budgeted / "training_options.json").read_text())
    assert options["run"]["plan_speeds"] and options["schedule"]["transition_kimg"]
    end = json.loads((budgeted / "stats.jsonl").read_text().splitlines()[-1])["kimg"]

    def planned(outdir: Path, kimg: float, resume: str | None = None):  # type: ignore[no-untyped-def]
        cfg = train_config_from_dict(options)
        cfg.run.minutes, cfg.run.outdir = 0.0, str(outdir)
        cfg.run.resume, cfg.schedule.total_kimg = resume, kimg
        return train(cfg, progress=False)

    whole = planned(tmp_path / "b", end)
    half = planned(tmp_path / "c", round(end / 2, 3))
    resumed = planned(tmp_path / "c", end, resume=str(half))
    for other in (budgeted, resumed):
        a, b = _tensors(list_snapshots(whole)[-1]), _tensors(list_snapshots(other)[-1])
        assert not [k for k in a if k.split(".")[0] in ("G", "D", "G_ema") and not torch.equal(a[k], b[k])]
