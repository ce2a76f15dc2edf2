"""progan's CPU thread policy: as many torch threads as there are cores nobody else is using.

torch's default, one OpenMP thread per core with busy-waiting workers, is the fastest on an idle machine
and collapses as soon as another process wants a core: a worker spins, then waits for a descheduled
sibling, every op (benchmarks/bench_threads.py measures it). One thread is immune but leaves an idle
core unused. :class:`ThreadGovernor` looks at the machine every half second (``/proc/stat``: how
much CPU the *other* processes use) and sets ``torch.set_num_threads`` to the cores left over, between 1
and the number of cores: all of them while the machine is ours, fewer when something else runs.
Elsewhere than Linux (no ``/proc/stat``) it keeps torch's default.

OpenMP's own wait policy is left as the user has it: with :meth:`ThreadGovernor.settle` before the first
step and a look every half second, a shorter ``GOMP_SPINCOUNT`` measured no gain on an idle machine and
a loss on a loaded one before the governor reacted (``benchmarks/results/threads-spin-idle.json``, taken
with the governor's earlier 2-second look and no settle).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import torch

_PROC_STAT = Path("/proc/stat")


def _busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent not idle since boot (``/proc/stat``), None if unknown."""
    try:
        fields = _PROC_STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # user nice system idle iowait irq softirq steal; guest is inside user
    return busy / os.sysconf("SC_CLK_TCK")


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class ThreadGovernor:
    """Keeps ``torch.get_num_threads()`` at the cores other processes leave free; call :meth:`tick` often
    (every training step): it looks at the machine at most every ``interval`` seconds.

    ``others`` (cores used by other processes) is the machine's busy time minus this process's CPU time
    over the last interval; the thread count is ``floor(max_threads - others + margin)``, at least 1, so
    a thread is given up as soon as others take more than ``margin`` of its core. Threads drop at once
    and come back only after ``recover`` calm intervals in a row, so a short blip does not flap them.
    """

    def __init__(self, max_threads: int | None = None, *, interval: float = 0.5, margin: float = 0.3,
                 recover: int = 4) -> None:
        self.max_threads = max_threads or min(available_cores(), torch.get_num_threads())
        self.interval = interval
        self.margin = margin
        self.recover = recover
        self.enabled = _busy_seconds() is not None and self.max_threads > 1
        self.others = 0.0
        self._calm = 0
        self._last = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        return time.perf_counter(), _busy_seconds() or 0.0, time.process_time()

    def settle(self, seconds: float = 0.25) -> int:
        """Look at the machine for ``seconds`` while this process waits, and set the thread count from
        what the others use at once (no hysteresis): called before the first step, so a run that starts
        on a busy machine does not spend its first interval at the full count. Returns the count."""
        if not self.enabled:
            return torch.get_num_threads()
        self._last = self._sample()
        time.sleep(seconds)
        wanted = self._measure()
        if wanted != torch.get_num_threads():
            torch.set_num_threads(wanted)
        self._calm = 0
        return wanted

    def tick(self) -> int:
        """Re-decide when ``interval`` has passed; returns the thread count in force."""
        if not self.enabled:
            return torch.get_num_threads()
        if time.perf_counter() - self._last[0] < self.interval:
            return torch.get_num_threads()
        wanted = self._measure()
        current = torch.get_num_threads()
        if wanted < current:
            self._calm = 0
            torch.set_num_threads(wanted)
            return wanted
        if wanted > current:
            self._calm += 1
            if self._calm >= self.recover:
                self._calm = 0
                torch.set_num_threads(wanted)
                return wanted
        else:
            self._calm = 0
        return current

    def _measure(self) -> int:
        """Updates :attr:`others` from the time since the last sample; returns the thread count wanted."""
        now = self._sample()
        wall = max(now[0] - self._last[0], 1e-9)
        machine = (now[1] - self._last[1]) / wall
        mine = (now[2] - self._last[2]) / wall
        self._last = now
        self.others = max(0.0, machine - mine)
        return max(1, min(self.max_threads, math.floor(self.max_threads - self.others + self.margin)))

    def describe(self) -> str:
        """One line for logs and ``progan bench``."""
        if not self.enabled:
            return f"threads: torch's {torch.get_num_threads()} (no machine load information here)"
        wait = os.environ.get("OMP_WAIT_POLICY") or os.environ.get("GOMP_SPINCOUNT") or "default"
        return (f"threads: up to {self.max_threads}, fewer while other processes use the cores "
                f"(now {torch.get_num_threads()}; OpenMP wait {wait})")
