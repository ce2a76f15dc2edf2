"""What the training loop holds: the pipeline, its random generator, ADA's p controller.

Every D and G step gets a :class:`StepAugment`: parameters drawn for the *global* batch from a
generator of their own (so the latents and labels do not change when augmentation is switched on, and
N processes augment exactly as one), sliced to this rank's rows; the step slices them again per
micro-batch. The generator's state and the controller's are saved in every snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from progan.augment.ada import AdaPipeline
from progan.augment.controller import AdaController
from progan.augment.diffaugment import DiffAugment
from progan.augment.params import Params
from progan.config import AugmentConfig, TrainConfig
from progan.training.distributed import World

if TYPE_CHECKING:
    from progan.training.checkpoint import Checkpoint

SEED_OFFSET = 0x5EED_A06  # the augmentation generator's seed is the run's seed plus this
RT_TERM = "scores/real_sign"  # the loss term holding E[sign(D(reals))] (see progan.losses.d_loss)


class StepAugment:
    """The augmentation of one step on this rank: ``aug(images, role, rows)`` for ``rows`` of the rank's
    batch."""

    def __init__(self, pipe: AdaPipeline | DiffAugment, params: Mapping[str, Params],
                 controller: AdaController | None) -> None:
        self.pipe = pipe
        self.params = params
        self.controller = controller

    def __call__(self, images: Tensor, role: str, rows: slice) -> Tensor:
        # Outside autocast: the resampling filters and colour matrices stay in float32.
        with torch.autocast(images.device.type, enabled=False):
            out = self.pipe.apply(images, self.params[role][rows])  # type: ignore[arg-type]
        if (images.dim() == 4 and not images.is_contiguous()
                and images.is_contiguous(memory_format=torch.channels_last)):
            out = out.contiguous(memory_format=torch.channels_last)
        return out

    def observe(self, terms: dict[str, Tensor], count: int) -> None:
        """Feed the D loss's ``r_t`` term (when the loss has one) for ``count`` reals to ADA's controller."""
        if self.controller is not None and RT_TERM in terms:
            self.controller.observe(terms[RT_TERM], count)


class Augmenter:
    """Augmentation of a training run; with ``kind=none`` every method is a no-op (steps get ``None``)."""

    def __init__(self, cfg: AugmentConfig, channels: int, seed: int, device: torch.device,
                 world: World) -> None:
        self.cfg = cfg
        self.channels = channels
        self.world = world
        self.pipe: AdaPipeline | DiffAugment | None = None
        if cfg.kind == "ada":
            self.pipe = AdaPipeline(cfg.pipeline)
        elif cfg.kind == "diffaug":
            self.pipe = DiffAugment(cfg.policy)
        self.generator = torch.Generator(device=device).manual_seed(seed + SEED_OFFSET)
        self.controller = (AdaController(cfg.p, cfg.target, cfg.speed_kimg, cfg.interval, device=device,
                                         distributed=world.distributed) if cfg.adaptive else None)

    @property
    def p(self) -> float:
        """The current probability (ADA); 1 for DiffAugment, 0 when off."""
        if self.controller is not None:
            return self.controller.p
        return {"ada": self.cfg.p, "diffaug": 1.0}.get(self.cfg.kind, 0.0)

    def _step(self, n: int, resolution: int, roles: tuple[str, ...]) -> StepAugment | None:
        if self.pipe is None:
            return None
        b = n // self.world.world_size
        rows = slice(self.world.rank * b, (self.world.rank + 1) * b)
        shape = (self.channels, resolution, resolution)
        params = {role: self.pipe.sample(n, shape, self.p, self.generator)[rows] for role in roles}
        return StepAugment(self.pipe, params, self.controller)

    def for_d_step(self, n: int, resolution: int) -> StepAugment | None:
        """Augmentation of a D step on a global batch of ``n`` reals and ``n`` fakes."""
        return self._step(n, resolution, ("reals", "fakes"))

    def for_g_step(self, n: int, resolution: int) -> StepAugment | None:
        """Augmentation of a G step on a global batch of ``n`` fakes."""
        return self._step(n, resolution, ("fakes",))

    def minibatch_done(self, n: int) -> None:
        """After each D step on a global batch of ``n`` reals: ADA's controller may update p."""
        if self.controller is not None:
            self.controller.minibatch_done(n)

    def stats(self) -> dict[str, float]:
        """Values for the tick's row: p, and the r_t of ADA's last update."""
        if self.pipe is None:
            return {}
        row = {"augment/p": self.p}
        if self.controller is not None:
            row["augment/rt"] = self.controller.last_rt
        return row

    # -- snapshot ---------------------------------------------------------------------------------
    def rng_states(self) -> dict[str, Tensor]:
        return {} if self.pipe is None else {"augment": self.generator.get_state()}

    def state_dict(self) -> dict[str, Any] | None:
        if self.pipe is None:
            return None
        controller = None if self.controller is None else self.controller.state_dict()
        return {"kind": self.cfg.kind, "controller": controller}

    def restore(self, ckpt: Checkpoint) -> None:
        """Continue from a snapshot; one written without augmentation (or another kind) starts afresh."""
        state = ckpt.extra.get("augment")
        if self.pipe is None or not state or state.get("kind") != self.cfg.kind:
            return
        if "rng/augment" in ckpt.tensors:
            self.generator.set_state(ckpt.tensors["rng/augment"])
        if self.controller is not None and state.get("controller"):
            self.controller.load_state_dict(state["controller"])


def build_augmenter(cfg: TrainConfig, device: torch.device, world: World) -> Augmenter:
    """The augmentation of a run (``cfg.augment``), for the data's channels and the run's seed."""
    return Augmenter(cfg.augment, cfg.network.channels, cfg.run.seed, device, world)
