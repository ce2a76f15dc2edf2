"""The real-statistics cache: where it lives, and that an empty folder name disables it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from progan.metrics.cache import cached_arrays, default_cache_dir


def test_default_cache_is_under_progan_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PROGAN_CACHE", str(tmp_path / "root"))
    assert default_cache_dir() == tmp_path / "root" / "metrics"


def test_empty_cache_dir_computes_every_time_and_writes_nothing(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"mu": np.arange(3.0)}

    for _ in range(2):
        out = cached_arrays("", "stats", "k", compute)
        np.testing.assert_array_equal(out["mu"], np.arange(3.0))
    assert len(calls) == 2 and list(tmp_path.iterdir()) == []
    cached_arrays(tmp_path / "c", "stats", "k", compute)
    cached_arrays(tmp_path / "c", "stats", "k", compute)
    assert len(calls) == 3 and [p.name for p in (tmp_path / "c").iterdir()] == ["stats-k.npz"]
