"""A tiny class-conditional biggan run through the ordinary training loop: finite losses, orthogonal
regularisation logged, a checkpoint that ``progan.load_generator`` turns into a working G."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import progan
from progan.config_io import apply_override
from progan.networks import biggan
from progan.presets import get_preset
from progan.training.checkpoint import list_snapshots
from progan.training.loop import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def labelled_data(tmp_path_factory: pytest.TempPathFactory, fashion_mnist_dir: Path) -> Path:
    from progan.data import prepare

    out = tmp_path_factory.mktemp("data") / "fm"
    prepare(fashion_mnist_dir, out, resolution=16, max_images=256, progress=False)
    return out


def test_tiny_biggan_run_trains_and_loads(labelled_data: Path, tmp_path: Path) -> None:
    cfg = get_preset("biggan-fashion-mnist")
    for a in (f"run.data={labelled_data}", f"run.outdir={tmp_path}", "run.device=cpu", "schedule.total_kimg=0.096",
              "schedule.minibatch_base=16", "schedule.g_lr=16:0.0001", "schedule.d_lr=16:0.0004",
              "schedule.initial_resolution=16", "schedule.tick_kimg_base=0.048", "network.biggan_ch=4",
              "network.latent_size=24", "network.shared_dim=8", "network.attention=8", "optim.ema_start_kimg=0.032",
              "compute.threads=1", "compute.batch_per_device=8"):
        apply_override(cfg, a)
    run = train(cfg, progress=False)
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and rows[-1]["lod"] == 0.0 and rows[-1]["resolution"] == 16
    for key in ("loss/D", "loss/G", "loss/G_reg", "scores/real", "scores/fake"):
        assert all(math.isfinite(r[key]) for r in rows), key
    assert rows[-1]["loss/G_reg"] > 0 and rows[-1]["skipped_steps"] == 0
    opts = json.loads((run / "training_options.json").read_text())
    assert opts["network"]["num_classes"] == 10 and opts["network"]["architecture"] == "biggan"

    G = progan.load_generator(list_snapshots(run)[-1])
    assert isinstance(G, biggan.Generator) and not G.training
    assert (G.num_classes, G.output_resolution, G.lod) == (10, 16, 0.0)
    y = torch.arange(10)
    x = G(torch.randn(10, 24), y)
    assert x.shape == (10, 1, 16, 16) and torch.isfinite(x).all()
    # Eval mode (running BN statistics): a sample does not depend on its batch.
    torch.testing.assert_close(G(torch.ones(1, 24), y[:1]), G(torch.ones(3, 24), y[:3])[:1], rtol=1e-4, atol=1e-5)
    assert list(run.glob("fakes*.png"))
