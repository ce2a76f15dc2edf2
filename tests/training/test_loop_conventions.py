"""When the loop evaluates the schedule and updates G_ema: the TF release's and BigGAN-PyTorch's
conventions."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import progan.training.loop as loop
from progan.training.distributed import World
from progan.training.resolve import open_training_data, resolve_config
from progan.training.schedule import phase_at
from progan.training.state import TrainState
from progan.training.stats import Collector
from progan.training.trainer import Trainer

pytestmark = pytest.mark.slow


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize("convention", ["d_step", "g_step"])
@pytest.mark.parametrize("d_steps", [1, 2])
def test_ema_follows_g_as_its_reference_does(convention: str, d_steps: int, tiny_data: Path, tiny_config,
                                             tmp_path: Path) -> None:
    """d_step (TF train.py: Gs_update_op with every D step): G_ema moves towards G as it was before the
    G step, with beta per D step. g_step (BigGAN-PyTorch: ema.update after G's step): towards the new G,
    beta once."""
    beta = 0.5
    cfg = tiny_config(tiny_data, tmp_path, 0.1, f"optim.ema_update={convention}", f"optim.ema_beta={beta}",
                      f"optim.d_steps={d_steps}")
    ds, data_dir = open_training_data(cfg)
    cfg = resolve_config(cfg, ds, data_dir)
    device = torch.device("cpu")
    state = TrainState.build(cfg, ds, device, World())
    trainer = Trainer(cfg, state, ds, device, World(), Collector(None))
    G_before, ema_before = _params(state.G), _params(state.G_ema)
    trainer.iteration(phase_at(0, cfg.schedule, cfg.network.resolution))
    G_after = _params(state.G)
    assert any(not torch.equal(a, b) for a, b in zip(G_before, G_after))
    target, weight = (G_before, 1 - beta**d_steps) if convention == "d_step" else (G_after, 1 - beta)
    for e0, g, e1 in zip(ema_before, target, _params(state.G_ema)):
        torch.testing.assert_close(e1, torch.lerp(e0, g, weight), rtol=1e-6, atol=1e-7)


def test_schedule_is_evaluated_once_every_minibatch_repeats(tiny_data: Path, tiny_config, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """TF train.py: ``for repeat in range(minibatch_repeats)`` runs with the schedule of the group's start."""
    calls: list[tuple[float, int]] = []
    real_iteration = Trainer.iteration

    def iteration(self: Trainer, ph) -> None:
        calls.append((ph.kimg, self.state.progress.nimg))
        real_iteration(self, ph)

    monkeypatch.setattr(Trainer, "iteration", iteration)
    loop.train(tiny_config(tiny_data, tmp_path, 0.25, "schedule.minibatch_repeats=3"), progress=False)
    assert len(calls) == 32  # 0.25 kimg / 8 per minibatch, rounded up
    for i, (kimg, _) in enumerate(calls):
        assert kimg * 1000 == pytest.approx(calls[i - i % 3][1])
    # One evaluation per group of 3 (the last group is cut short).
    assert len({kimg for kimg, _ in calls}) == 11
