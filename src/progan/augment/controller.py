"""ADA's adjustment of p (Karras et al. 2020, Sec. 3): the overfitting heuristic
``r_t = E[sign(D(reals))]`` over the real images of the last ``interval`` D minibatches (all ranks),
and ``p <- clip(p + sign(r_t - target) * images / (speed_kimg * 1000), 0, 1)``, so that p can go from 0 to
1 in ``speed_kimg`` thousand images.

The signs are accumulated on the device and reduced over ranks after every D minibatch (no host
synchronisation until an update), so every rank computes the same p. Ours: p is also clipped at 1
(stylegan2-ada-pytorch only clips at 0; above 1 its gates would be always on anyway, but the rotation
split would not be).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist


class AdaController:
    """Holds p and the sign statistic between updates."""

    def __init__(self, p: float, target: float, speed_kimg: float, interval: int, *,
                 device: torch.device | str = "cpu", distributed: bool = False) -> None:
        self.p = float(p)
        self.target = float(target)
        self.speed_kimg = float(speed_kimg)
        self.interval = int(interval)
        self.distributed = distributed
        self.device = torch.device(device)
        self.last_rt = float("nan")
        self._batch = torch.zeros(2, dtype=torch.float64, device=self.device)    # this minibatch, this rank
        self._pending = torch.zeros(2, dtype=torch.float64, device=self.device)  # all ranks since last update
        self._minibatches = 0    # D minibatches since the last update
        self._images = 0         # images of those minibatches (global)

    def observe(self, sign_mean: torch.Tensor, count: int) -> None:
        """Add ``count`` reals whose mean ``sign(D(real))`` is ``sign_mean`` (a tensor, kept on its
        device)."""
        # Signs are integers: rounding the sum makes the statistic exact however the batch was split.
        signs = (sign_mean.detach().to(torch.float64) * count).round()
        self._batch = self._batch + torch.stack([signs, signs.new_tensor(float(count))])

    def minibatch_done(self, images: int) -> bool:
        """Close one D minibatch of ``images`` (global); update p every ``interval`` of them. True if updated.

        Each minibatch's sums are reduced over ranks at once (an asynchronous all-reduce of two numbers),
        so the pending statistic is the same on every rank and a snapshot holds all of it."""
        if self.distributed:
            dist.all_reduce(self._batch)
        self._pending = self._pending + self._batch
        self._batch = torch.zeros_like(self._batch)
        self._minibatches += 1
        self._images += images
        if self._minibatches < self.interval:
            return False
        signs, count = self._pending.tolist()
        if count > 0:
            self.last_rt = signs / count
            direction = (self.last_rt > self.target) - (self.last_rt < self.target)
            self.p = min(max(self.p + direction * self._images / (self.speed_kimg * 1000), 0.0), 1.0)
        self._pending = torch.zeros_like(self._pending)
        self._minibatches = self._images = 0
        return True

    # -- checkpoint -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """JSON-able state; the pending sign sum is an integer-valued float, so it round-trips exactly."""
        signs, count = self._pending.tolist()
        return {"p": self.p, "last_rt": self.last_rt, "signs": signs, "count": count,
                "minibatches": self._minibatches, "images": self._images}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.p = float(state["p"])
        self.last_rt = float(state.get("last_rt", float("nan")))
        self._pending = torch.tensor([float(state["signs"]), float(state["count"])], dtype=torch.float64,
                                     device=self.device)
        self._minibatches = int(state["minibatches"])
        self._images = int(state["images"])
