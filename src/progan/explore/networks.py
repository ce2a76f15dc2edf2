"""Generators for the explorer's pages: loaded once per snapshot file and kept while they are in use.

Loading goes through :func:`progan.sampling._io.load_network`, the helper behind every ``--network``
option, so anything ``progan generate`` can open the explorer can open. ``G`` (instead of the averaged
``G_ema``) and BigGAN's standing statistics (:func:`progan.networks.standing_stats.accumulate_standing_stats`)
are variants of the same entry.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from progan.errors import UserError
from progan.explore.source import RunSource, class_names_for

if TYPE_CHECKING:  # imported by the first load (in a background thread at start-up), not by the page
    import torch

__all__ = ["NetworkCache", "NetworkInfo"]


@dataclass(frozen=True)
class NetworkInfo:
    """What the pages need to know about a generator to offer the right controls."""

    path: Path
    resolution: int
    channels: int
    z_dim: int
    num_classes: int
    has_batchnorm: bool
    kimg: float | None = None
    class_names: list[str] = field(default_factory=list)

    def summary(self) -> str:
        kind = f"{self.num_classes} classes" if self.num_classes else "unconditional"
        kimg = "" if self.kimg is None else f", {self.kimg:g} kimg"
        return (f"`{self.path.name}`: {self.resolution}x{self.resolution}, {self.channels} channel(s), "
                f"z {self.z_dim}, {kind}{kimg}")


def _describe(path: Path, G: torch.nn.Module) -> NetworkInfo:
    import torch

    from progan.training.checkpoint import read_checkpoint

    config: dict[str, Any] = {}
    kimg: float | None = None
    try:  # metadata only: no tensor is read
        ckpt = read_checkpoint(path, prefixes=())
        config, kimg = ckpt.config, float(ckpt.progress.get("kimg", 0.0))
    except UserError:
        pass  # a network file without progan's metadata: no kimg, classes by number
    num_classes = int(getattr(G, "num_classes", 0) or 0)
    return NetworkInfo(
        path=path, resolution=cast(int, G.output_resolution), channels=cast(int, G.channels),
        z_dim=cast(int, G.z_dim),
        num_classes=num_classes,
        has_batchnorm=any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in G.modules()),
        kimg=kimg, class_names=class_names_for(config, num_classes),
    )


class NetworkCache:
    """Thread-safe, bounded cache of loaded generators, keyed by file identity (path, size, mtime) and
    variant.

    A snapshot rewritten in place (same name, new contents) is loaded again; the least recently used entries
    beyond ``capacity`` are dropped.
    """

    def __init__(self, source: RunSource, device: str | torch.device = "auto", capacity: int = 4,
                 threads: int | None = None) -> None:
        self.source = source
        self.device = device  # resolved (torch imported) at the first load
        self.threads = threads
        self.capacity = capacity
        self._lock = threading.Lock()
        self._nets: OrderedDict[tuple[Any, ...], tuple[torch.nn.Module, NetworkInfo]] = OrderedDict()

    def get(self, snapshot: str | None, *, ema: bool = True, standing_batches: int = 0,
            truncation: float | None = None) -> tuple[torch.nn.Module, NetworkInfo]:
        """The generator of ``snapshot`` (a listed name, or newest) and its description.

        ``standing_batches`` > 0: a copy whose batch-norm statistics are recomputed from that many batches
        drawn at ``truncation`` (BigGAN-PyTorch's standing statistics); ignored when G has no batch norm.
        """
        path = self.source.resolve(snapshot)
        try:
            st = path.stat()
        except OSError as e:
            raise UserError(f"cannot read {path.name}: {e.strerror}") from None
        base_key: tuple[Any, ...] = (str(path), st.st_size, st.st_mtime_ns, ema)
        with self._lock:
            G, info = self._lookup(base_key) or self._store(base_key, self._load(path, ema))
            if standing_batches <= 0 or not info.has_batchnorm:
                return G, info
            key = base_key + (standing_batches, truncation)
            hit = self._lookup(key)
            if hit is not None:
                return hit
            from progan.networks.standing_stats import accumulate_standing_stats

            net = copy.deepcopy(G)
            accumulate_standing_stats(net, num_batches=standing_batches, seed=0, truncation=truncation)
            return self._store(key, (net.eval(), info))

    def _lookup(self, key: tuple[Any, ...]) -> tuple[torch.nn.Module, NetworkInfo] | None:
        hit = self._nets.get(key)
        if hit is not None:
            self._nets.move_to_end(key)
        return hit

    def _store(self, key: tuple[Any, ...],
               entry: tuple[torch.nn.Module, NetworkInfo]) -> tuple[torch.nn.Module, NetworkInfo]:
        self._nets[key] = entry
        while len(self._nets) > self.capacity:
            self._nets.popitem(last=False)
        return entry

    def _load(self, path: Path, ema: bool) -> tuple[torch.nn.Module, NetworkInfo]:
        import torch

        from progan.device import resolve_device

        self.device = resolve_device(self.device)
        if self.threads is not None and self.device.type == "cpu":
            torch.set_num_threads(self.threads)  # per request: requests of several tabs run side by side
        if ema:
            from progan.sampling._io import load_network

            G = load_network(path, self.device)
        else:
            from progan import load_generator

            G = load_generator(str(path), device=self.device, ema=False)
        return G, _describe(path, G)
