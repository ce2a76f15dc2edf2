"""Two gloo processes on CPU train like one process with the same global batch."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

import progan
from progan.metrics.sources import generate_samples
from progan.training.launch import launch
from progan.training.loop import train
from progan.training.snapshots import list_snapshots

pytestmark = pytest.mark.slow


def _cfg(tiny_config, data: Path, outdir: Path, kimg: float, *extra: str):
    return tiny_config(data, outdir, kimg, "schedule.tick_kimg_base=0.05", *extra)


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]


def _weights(run: Path) -> dict[str, torch.Tensor]:
    with safe_open(str(list_snapshots(run)[-1]), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys() if k.startswith(("G.", "D.", "G_ema."))}


@pytest.fixture(scope="module")
def runs(tiny_data: Path, tiny_config, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    metrics = ("run.metrics=swd", "run.metrics_every=2", "run.metrics_num=96")
    one = train(_cfg(tiny_config, tiny_data, tmp_path_factory.mktemp("one"), 0.2, *metrics), progress=False)
    two = launch(_cfg(tiny_config, tiny_data, tmp_path_factory.mktemp("two"), 0.2, *metrics), 2,
                 progress=False)
    return one, two


def test_two_processes_log_the_same_losses_as_one(runs: tuple[Path, Path]) -> None:
    one, two = (_rows(r) for r in runs)
    assert [r["kimg"] for r in one] == [r["kimg"] for r in two]
    for a, b in zip(one, two):
        for key in ("loss/D", "loss/G", "scores/real", "scores/fake", "loss/gp"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), key


def test_metrics_during_two_process_training_match_one_process(runs: tuple[Path, Path]) -> None:
    one, two = (_rows(r) for r in runs)
    a = [(r["kimg"], r["metric/swd"]) for r in one if "metric/swd" in r]
    b = [(r["kimg"], r["metric/swd"]) for r in two if "metric/swd" in r]
    assert len(a) >= 2 and [k for k, _ in a] == [k for k, _ in b]
    # G_ema differs by float rounding only; a few pixels may round differently.
    for (_, x), (_, y) in zip(a, b):
        assert y == pytest.approx(x, rel=1e-3), (a, b)  # measured: equal


def test_two_processes_end_with_the_same_weights_and_one_checkpoint_per_snapshot(
        runs: tuple[Path, Path]) -> None:
    one, two = runs
    assert [p.name for p in list_snapshots(one)] == [p.name for p in list_snapshots(two)]
    assert not list(two.glob(".*tmp*"))
    a, b = _weights(one), _weights(two)
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    assert worst < 1e-4, worst  # measured: 3e-7 after 0.2 kimg


def test_a_two_process_checkpoint_resumes_in_one_process(runs: tuple[Path, Path], tiny_data: Path,
                                                         tiny_config) -> None:
    _, two = runs
    resumed = train(_cfg(tiny_config, tiny_data, two.parent, 0.3, f"run.resume={two}"), progress=False)
    assert resumed == two
    assert _rows(two)[-1]["kimg"] >= 0.3


def _torchrun_two_ranks(script_name: str, *args: str, check: bool) -> Path:
    """Run a worker script next to this file on 2 CPU ranks under torchrun; returns the script's path."""
    script = Path(__file__).with_name(script_name)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    str(script), *args], check=check, timeout=180, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    return script


def test_metric_samples_are_generated_by_every_rank_and_equal_one_process(tmp_path: Path) -> None:
    script = _torchrun_two_ranks("shard_worker.py", str(tmp_path), check=True)
    spec = importlib.util.spec_from_file_location("shard_worker", script)
    assert spec is not None and spec.loader is not None
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    single, labels = generate_samples(worker.TinyG(), worker.NUM, seed=3, batch_size=worker.BATCH,
                                      truncation=1.5, label_pool=np.arange(5))
    got = np.load(tmp_path / "images.npz")
    np.testing.assert_array_equal(got["images"], single)
    np.testing.assert_array_equal(got["labels"], labels)
    # No padded or repeated batch:
    assert len(np.unique(single.reshape(len(single), -1), axis=0)) == worker.NUM
    # 4 batches of 3 (the last one short): two per rank.
    assert [int((tmp_path / f"batches-{r}.txt").read_text()) for r in (0, 1)] == [2, 2]


@pytest.mark.parametrize("mode", ["wait", "nowait"])
def test_ranks_wait_for_rank_0_longer_than_the_collective_timeout(tmp_path: Path, mode: str) -> None:
    """Rank 0 scoring metrics for longer than ``compute.dist_timeout_s`` must not time the others out; the
    'nowait' run shows that without ``wait_for_main`` they would."""
    _torchrun_two_ranks("wait_worker.py", str(tmp_path), mode, check=False)  # 'nowait' is meant to fail
    rank1 = (tmp_path / "rank-1.txt").read_text()
    if mode == "wait":
        assert rank1 == "ok" and (tmp_path / "rank-0.txt").read_text() == "ok"
    else:
        assert "Timed out" in rank1, rank1


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return sorted(kids)


def _is_rank(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"spawn_main" in cmd


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the rank processes through /proc")
def test_a_killed_rank_stops_all_ranks_with_a_clear_message_and_the_last_snapshot_resumes(
        tiny_data: Path, tiny_config, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "progan", "train", "--preset", "tiny", "--data", str(tiny_data), "--outdir",
           str(tmp_path), "--device", "cpu", "--kimg", "20", "--snap", "1", "--gpus", "2", "--quiet",
           "--set", "schedule.tick_kimg_base=0.05"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if list(tmp_path.glob("*/network-snapshot-*.safetensors")):
            break
        time.sleep(0.05)
    ranks = [p for p in _children(proc.pid) if _is_rank(p)]
    assert len(ranks) == 2, ranks
    os.kill(ranks[1], signal.SIGKILL)   # spawned in rank order: the second is rank 1
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    # (Python's resource tracker may add a warning about the killed rank's semaphores.)
    assert ("progan train: error: rank 1 was killed by SIGKILL, all ranks stopped; snapshots are written "
            "atomically, so --resume latest continues from the last one") in err.splitlines(), err[-2000:]
    assert "Terminating process" not in err
    assert not any(_is_rank(p) for p in ranks), "a rank outlived the failure"
    snaps = list_snapshots(next(tmp_path.iterdir()))
    assert snaps
    G = progan.load_generator(snaps[-1])
    assert all(torch.isfinite(p).all() for p in G.parameters())
    kimg = json.loads((snaps[-1].parent / "stats.jsonl").read_text().splitlines()[-1])["kimg"]
    resumed = train(_cfg(tiny_config, tiny_data, tmp_path, kimg + 0.1, "run.resume=latest"), progress=False)
    assert _rows(resumed)[-1]["kimg"] >= kimg + 0.1
