"""What ``progan explore PATH`` looks at: a run folder (its snapshots, sample grids and logs), a folder of
run folders (the newest run), or one network file.

Every file the explorer reads on a page's behalf is named by this module and must lie under PATH: a
snapshot chosen on the page is looked up among the listed ones, never opened from the name it came with.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progan.errors import UserError
from progan.training.snapshots import latest_checkpoint, list_snapshots

__all__ = ["NEWEST", "RunSource"]

NEWEST = "newest"
_FAKES_RE = re.compile(r"^fakes(\d+)\.png$")


@dataclass(frozen=True)
class RunSource:
    """``root``: the PATH given on the command line (resolved); ``run_dir``: the run folder shown (None when
    PATH is a single network file); ``network``: that file, when PATH is one; ``label``: PATH as given."""

    root: Path
    run_dir: Path | None
    network: Path | None
    label: str = ""

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> RunSource:
        """PATH as given to ``progan explore``; a one-line UserError when it is missing or holds no run."""
        p = Path(path).expanduser()
        if not p.exists():
            raise UserError(f"{p} does not exist: give a run folder or a network snapshot file")
        root = p.resolve()
        if root.is_file():
            return cls(root=root, run_dir=None, network=root, label=str(p))
        if list_snapshots(root) or (root / "stats.jsonl").is_file():
            return cls(root=root, run_dir=root, network=None, label=str(p))
        newest = latest_checkpoint(root)  # a folder of run folders: the newest run below it
        if newest is None:
            raise UserError(f"{p} holds no network-snapshot-*.safetensors and no stats.jsonl: "
                            "give a run folder (runs/00000-...) or a snapshot file")
        return cls(root=root, run_dir=newest.parent.resolve(), network=None, label=str(p))

    @property
    def is_run(self) -> bool:
        return self.run_dir is not None

    def snapshots(self) -> list[Path]:
        """Networks that can be picked, newest first."""
        if self.network is not None:
            return [self.network]
        assert self.run_dir is not None
        return [p.resolve() for p in reversed(list_snapshots(self.run_dir))]

    def snapshot_names(self) -> list[str]:
        return [p.name for p in self.snapshots()]

    def resolve(self, name: str | None) -> Path:
        """The network file named ``name``: a listed snapshot's file name, or ``newest`` (or empty).

        Any other name, including a path that leads outside PATH, is refused with a UserError.
        """
        snaps = self.snapshots()
        if not snaps:
            raise UserError(f"{self.run_dir} has no network snapshot yet; the first one is written at "
                            "the run's first snapshot tick")
        if not name or name == NEWEST:
            return snaps[0]
        for p in snaps:
            if p.name == name:
                return p
        raise UserError(f"{name!r} is not one of the snapshots under {self.root}")

    def latest_fakes(self) -> Path | None:
        """The sample grid of the highest kimg, ``fakes<kimg>.png`` (the run folder only)."""
        if self.run_dir is None:
            return None
        found = [(int(m.group(1)), p) for p in self.run_dir.glob("fakes*.png")
                 if (m := _FAKES_RE.match(p.name))]
        return max(found)[1] if found else None

    def log_files(self) -> list[Path]:
        """``stats.jsonl`` and every ``metric-<name>.jsonl`` of the run folder that exist."""
        if self.run_dir is None:
            return []
        files = [self.run_dir / "stats.jsonl"] + sorted(self.run_dir.glob("metric-*.jsonl"))
        return [p for p in files if p.is_file()]


def class_names_for(config: dict[str, Any], num_classes: int) -> list[str]:
    """Class names from the training data's ``dataset.json`` when the checkpoint's configuration leads to a
    prepared data set (or to the Fashion-MNIST demo set); otherwise the class indices as text."""
    from progan.data.cache import DEMO_NAME, cache_root

    fallback = [str(i) for i in range(num_classes)]
    if num_classes <= 0:
        return []
    data = (config.get("run") or {}).get("data")
    meta_path = (Path(data) if data else cache_root() / "datasets" / DEMO_NAME) / "dataset.json"
    try:
        names = json.loads(meta_path.read_text(encoding="utf-8")).get("class_names") or []
    except (OSError, ValueError, AttributeError):
        return fallback
    names = [str(n) for n in names]
    return names if len(names) == num_classes else fallback
