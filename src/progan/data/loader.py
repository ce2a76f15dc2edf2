"""The training loader: endless seeded shuffled minibatches from the memory-mapped levels.

Order: the infinite stream of *global sample positions* p = 0, 1, 2, ... maps to data set row
``perm(epoch = p // N)[p % N]``, with one permutation per epoch from ``numpy.random.Generator(PCG64(
SeedSequence([seed, epoch])))``. A global minibatch of B is the next B positions (it may span an epoch
boundary); rank r of W takes positions r*B/W .. (r+1)*B/W - 1 of it. Mirror flips are a hash of
(seed, p). So the union over ranks equals the single-process batch, and the state is one number,
``images_seen`` (saved as epoch + cursor), independent of the number of ranks.

Values follow the TF release's ``process_reals`` (Karras et al. 2018): uint8 -> ``x * (2/255) - 1`` in
float32 (``misc.adjust_dynamic_range`` from [0, 255] to [-1, 1], i.e. x/127.5 - 1 up to one float32 ulp),
optional horizontal mirroring, then the level-of-detail fade: with ``alpha < 1`` the images are
``lerp(nearest_up(box2x2(x)), x, alpha)`` where box2x2 averages the *current* level's float values, as the
release's ``FadeLOD`` does (not the separately rounded stored level below, which can differ by 1/255).

Memory is independent of the data set size apart from the permutation (8 bytes per image): each batch is
gathered from the memmap with sorted indices, which reads the file in order.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from progan.data.dataset import Dataset
from progan.errors import UserError
from progan.nn.resample import fade_images

_SCALE = np.float32(2.0 / 255.0)
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele et al. 2014), vectorised over uint64; wraps modulo 2**64."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def mirror_flags(seed: int, positions: np.ndarray) -> np.ndarray:
    """Whether global sample ``positions`` are flipped: a fair coin per position fixed by (seed, position)."""
    key = _splitmix64(np.array([seed], dtype=np.uint64))[0]
    return (_splitmix64(positions.astype(np.uint64) ^ key) >> np.uint64(63)).astype(bool)


def epoch_permutation(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, epoch]))).permutation(n)


def to_float(batch: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """uint8 NCHW -> float32 in [-1, 1]; with ``alpha < 1`` also the fade lerp(up(box2x2(x)), x, alpha).

    The fade is evaluated as ``x*alpha*s + up(S)*(1-alpha)*s/4 - 1`` (s = 2/255, S = 2x2 sums of the uint8
    pixels), which is the TF release's ``FadeLOD`` up to float32 rounding but touches the full-size array
    only three times; the nearest upsampling along w duplicates each float32 as a 64-bit pair.
    """
    x = batch.astype(np.float32)
    if alpha >= 1.0:
        x *= _SCALE
        x -= np.float32(1.0)
        return x
    n, c, h, w = batch.shape
    pairs = np.ascontiguousarray(batch).view(np.uint16)  # two horizontal neighbours per element
    sums = (pairs & np.uint16(0xFF)) + (pairs >> np.uint16(8))
    sums = sums[:, :, 0::2] + sums[:, :, 1::2]
    low = sums.astype(np.float32)
    low *= np.float32(_SCALE * (1.0 - alpha) / 4.0)
    low -= np.float32(1.0)
    bits = low.view(np.uint32).astype(np.uint64)
    bits |= bits << np.uint64(32)
    x *= np.float32(_SCALE * alpha)
    x.reshape(n, c, h // 2, 2, w)[...] += bits.view(np.float32)[:, :, :, None, :]
    return x


def to_float_torch(batch: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """:func:`to_float` on a uint8 tensor with torch ops, for accelerators (only uint8 crosses the bus)."""
    return fade_images(batch.to(torch.float32).mul_(float(_SCALE)).sub_(1.0), alpha)


class Loader:
    """Endless, seeded, resumable, rank-sharded minibatches of a prepared :class:`Dataset`."""

    def __init__(self, ds: Dataset, *, seed: int = 0, mirror: bool = False, rank: int = 0,
                 world_size: int = 1, prefetch: bool = False) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise UserError(f"loader rank {rank} is not in 0..world_size-1 (world_size {world_size})")
        if not 0 <= seed < 2**63:
            raise UserError(f"loader seed must be a non-negative integer, got {seed}")
        self.ds = ds
        self.seed = int(seed)
        self.mirror = bool(mirror)
        self.rank = rank
        self.world_size = world_size
        self.images_seen = 0
        self._perms: dict[int, np.ndarray] = {}
        self._pending: tuple[tuple[Any, ...], Future[Any]] | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="progan-loader") if prefetch else None

    # --- order -------------------------------------------------------------------------------------
    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            if len(self._perms) >= 2:
                del self._perms[min(self._perms)]
            self._perms[epoch] = epoch_permutation(self.seed, epoch, len(self.ds))
        return self._perms[epoch]

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """Data set rows at global sample ``positions`` (increasing)."""
        n = len(self.ds)
        epochs, offsets = np.divmod(positions, n)
        out = np.empty(len(positions), np.int64)
        for e in np.unique(epochs):
            m = epochs == e
            out[m] = self._perm(int(e))[offsets[m]]
        return out

    # --- batches -----------------------------------------------------------------------------------
    def _check(self, batch_size: int, resolution: int, alpha: float) -> None:
        if batch_size < 1 or batch_size % self.world_size:
            raise UserError(f"minibatch {batch_size} must be a positive multiple of the number of processes "
                            f"({self.world_size})")
        if not 0.0 <= alpha <= 1.0:
            raise UserError(f"fade alpha must be in [0, 1], got {alpha}")
        self.ds.images(resolution)  # a clear error for a missing level before the position moves

    def _positions(self, start: int, batch_size: int) -> np.ndarray:
        b = batch_size // self.world_size
        return np.arange(b, dtype=np.int64) + (start + self.rank * b)

    def _build(self, positions: np.ndarray, rows: np.ndarray,
               resolution: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The uint8 batch (mirrored) and labels at ``positions``: a pure function of them, so it is safe to
        run ahead in a thread."""
        batch = self.ds.gather(resolution, rows)
        if self.mirror:
            flip = mirror_flags(self.seed, positions)
            batch[flip] = batch[flip, :, :, ::-1]
        labels = self.ds.labels
        return batch, (np.asarray(labels[rows]) if labels is not None else None)

    def next(self, batch_size: int, resolution: int, alpha: float = 1.0,
             device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor | None]:
        """float32 [b, C, res, res] in [-1, 1] on ``device`` and int64 labels [b] (None if unlabelled).

        With ``prefetch``, the uint8 batch at the following position (same size and resolution) is
        gathered in a background thread while the caller trains; the fade, whose ``alpha`` changes every
        step of a fade-in, is applied afterwards. A call with another size or resolution discards it.
        """
        self._check(batch_size, resolution, alpha)
        device = torch.device(device)
        key = (self.images_seen, batch_size, resolution)
        pending, self._pending = self._pending, None
        if pending is not None and pending[0] == key:
            batch, lab = pending[1].result()
        else:
            positions = self._positions(self.images_seen, batch_size)
            batch, lab = self._build(positions, self.rows(positions), resolution)
        self.images_seen += batch_size
        if self._pool is not None:
            ahead = self._positions(self.images_seen, batch_size)
            job = self._pool.submit(self._build, ahead, self.rows(ahead), resolution)
            self._pending = ((self.images_seen, batch_size, resolution), job)
        labels = torch.from_numpy(lab).to(device) if lab is not None else None
        if device.type == "cpu":  # numpy's in-place float ops beat torch's for these sizes on CPU
            return torch.from_numpy(to_float(batch, alpha)), labels
        return to_float_torch(torch.from_numpy(batch).to(device), alpha), labels

    # --- resume ------------------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self.images_seen // len(self.ds)

    def state_dict(self) -> dict[str, int]:
        n = len(self.ds)
        return {"seed": self.seed, "epoch": self.images_seen // n, "cursor": self.images_seen % n,
                "images_seen": self.images_seen, "num_images": n}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        n = len(self.ds)
        if int(state.get("num_images", n)) != n:
            raise UserError(f"the saved loader position is for a data set of {state['num_images']} images, "
                            f"this one has {n}; resume with the same data set")
        self._pending = None
        self.seed = int(state.get("seed", self.seed))
        self.images_seen = int(state["epoch"]) * n + int(state["cursor"])
        self._perms.clear()
