"""The CPU thread governor and the precision check, on scripted machine readings."""

from __future__ import annotations

import pytest
import torch

from progan import threads
from progan.errors import UserError
from progan.training import precision


class FakeMachine:
    """A clock, the machine's busy CPU seconds and this process's CPU seconds, advanced by hand."""

    def __init__(self) -> None:
        self.wall = self.busy = self.mine = 0.0

    def run(self, seconds: float, mine: float, others: float) -> None:
        self.wall += seconds
        self.mine += mine * seconds
        self.busy += (mine + others) * seconds


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch):
    m = FakeMachine()
    monkeypatch.setattr(threads, "_busy_seconds", lambda: m.busy)
    monkeypatch.setattr(threads.time, "perf_counter", lambda: m.wall)
    monkeypatch.setattr(threads.time, "process_time", lambda: m.mine)
    set_to = []
    monkeypatch.setattr(torch, "set_num_threads", lambda n: set_to.append(n))
    current = {"n": 2}
    monkeypatch.setattr(torch, "get_num_threads", lambda: set_to[-1] if set_to else current["n"])
    return m, set_to


def test_threads_follow_the_cores_other_processes_leave(machine) -> None:
    m, set_to = machine
    gov = threads.ThreadGovernor(max_threads=2, interval=2.0, recover=2)
    assert gov.enabled
    m.run(2.5, mine=2.0, others=0.05)        # idle machine (a daemon's crumbs): keep both
    assert gov.tick() == 2 and set_to == []
    m.run(2.5, mine=1.3, others=0.7)         # a busy process takes most of a core: give one up at once
    assert gov.tick() == 1 and set_to == [1] and gov.others == pytest.approx(0.7)
    m.run(0.5, mine=1.0, others=0.0)         # not yet an interval: no new decision
    assert gov.tick() == 1
    m.run(2.0, mine=1.0, others=0.1)         # calm once: not yet
    assert gov.tick() == 1
    m.run(2.5, mine=1.0, others=0.1)         # calm twice in a row: take the core back
    assert gov.tick() == 2 and set_to == [1, 2]


def test_a_busy_blip_between_calm_readings_restarts_the_count(machine) -> None:
    m, set_to = machine
    gov = threads.ThreadGovernor(max_threads=2, interval=1.0, recover=2)
    m.run(1.0, mine=1.0, others=1.0)
    assert gov.tick() == 1
    m.run(1.0, mine=1.0, others=0.0)         # calm once
    assert gov.tick() == 1
    m.run(1.0, mine=1.0, others=0.9)         # busy again: the calm count starts over
    assert gov.tick() == 1
    m.run(1.0, mine=1.0, others=0.0)
    assert gov.tick() == 1 and set_to == [1]
    m.run(1.0, mine=1.0, others=0.0)
    assert gov.tick() == 2 and set_to == [1, 2]


def test_settle_decides_before_the_first_step_from_what_others_use(
        machine, monkeypatch: pytest.MonkeyPatch) -> None:
    m, set_to = machine
    busy_other = {"others": 1.0}
    # while progan waits, the machine's busy time is all the others'
    monkeypatch.setattr(threads.time, "sleep", lambda s: m.run(s, mine=0.0, others=busy_other["others"]))
    gov = threads.ThreadGovernor(max_threads=2)
    assert gov.settle(0.25) == 1 and set_to == [1] and gov.others == pytest.approx(1.0)
    busy_other["others"] = 0.1
    assert gov.settle(0.25) == 2 and set_to == [1, 2]  # settle has no hysteresis: it is a fresh start


def test_the_governor_stays_out_of_the_way_without_load_information(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "_busy_seconds", lambda: None)
    gov = threads.ThreadGovernor(max_threads=2)
    assert not gov.enabled and "no machine load information" in gov.describe()


def test_low_precision_without_its_matrix_units_is_refused_when_slower(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rates = {"fp32": 88.0, "bf16": 1.3, "fp16": 2.0}
    monkeypatch.setattr(precision, "matmul_gflops", lambda p, device, **kw: rates[p])
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "fma", "f16c"})
    cpu = torch.device("cpu")
    with pytest.raises(UserError, match=r"--precision bf16: this CPU has no bf16 matrix units "
                                        r"\(avx512_bf16 / amx_bf16 missing\).*1\.3 GFLOP/s against 88\.0"):
        precision.resolve_precision("bf16", cpu)
    assert precision.resolve_precision("fp32", cpu) == "fp32"
    assert precision.resolve_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "avx512_bf16"})
    # The units are there: no measurement needed.
    assert precision.resolve_precision("bf16", cpu) == "bf16"
    rates["bf16"] = 200.0
    assert precision.resolve_precision("auto", cpu) == "bf16"


def test_the_cli_refuses_it_in_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                        tiny_data, tmp_path) -> None:
    from progan.cli import main

    monkeypatch.setattr(precision, "matmul_gflops", lambda p, device, **kw: {"fp32": 88.0}.get(p, 1.0))
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2"})
    with pytest.raises(SystemExit) as e:
        main(["train", "--preset", "tiny", "--data", str(tiny_data), "--outdir", str(tmp_path),
              "--precision", "bf16", "--device", "cpu", "--quiet"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "no bf16 matrix units" in err
