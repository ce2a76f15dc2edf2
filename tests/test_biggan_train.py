"""A tiny class-conditional biggan run through the ordinary training loop (finite losses, orthogonal
regularisation logged, a checkpoint that ``progan.load_generator`` turns into a working G), and the
truncation sweep on it: latents inside the threshold, JSON + plot, one-line CLI errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from biggan_threads import one_thread  # noqa: F401  (autouse)

import progan
from progan.config_io import apply_override
from progan.networks import biggan
from progan.presets import get_preset
from progan.training.loop import train
from progan.training.snapshots import list_snapshots

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def labelled_data(tmp_path_factory: pytest.TempPathFactory, fashion_mnist_dir: Path) -> Path:
    from progan.data import prepare

    out = tmp_path_factory.mktemp("data") / "fm"
    prepare(fashion_mnist_dir, out, resolution=16, max_images=256, progress=False)
    return out


@pytest.fixture(scope="module")
def biggan_run(labelled_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("runs")
    cfg = get_preset("biggan-fashion-mnist")
    for a in (f"run.data={labelled_data}", f"run.outdir={tmp_path}", "run.device=cpu",
              "schedule.total_kimg=0.096", "schedule.minibatch_base=16", "schedule.g_lr=16:0.0001",
              "schedule.d_lr=16:0.0004", "schedule.initial_resolution=16", "schedule.tick_kimg_base=0.048",
              "network.biggan_ch=4", "network.latent_size=24", "network.shared_dim=8", "network.attention=8",
              "optim.ema_start_kimg=0.032",
              "compute.threads=1", "compute.batch_per_device=8"):
        apply_override(cfg, a)
    return train(cfg, progress=False)


def test_tiny_biggan_run_trains_and_loads(biggan_run: Path) -> None:
    run = biggan_run
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
    torch.testing.assert_close(G(torch.ones(1, 24), y[:1]), G(torch.ones(3, 24), y[:3])[:1],
                               rtol=1e-4, atol=1e-5)
    assert list(run.glob("fakes*.png"))


class _Recorder(torch.nn.Module):
    """Passes through to G and records the largest latent magnitude it was given."""

    def __init__(self, G: torch.nn.Module) -> None:
        super().__init__()
        self.G = G
        self.z_dim, self.num_classes, self.channels = G.z_dim, G.num_classes, G.channels
        self.output_resolution = G.output_resolution
        self.max_abs: list[float] = []

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        self.max_abs.append(float(z.abs().max()))
        return self.G(z, labels)


def test_sweep_draws_latents_inside_each_threshold(biggan_run: Path, labelled_data: Path) -> None:
    from progan.sampling.truncation_sweep import truncation_sweep

    rec = _Recorder(progan.load_generator(list_snapshots(biggan_run)[-1]))
    seen: dict[float | None, float] = {}
    for t in (0.3, 1.0, None):
        rec.max_abs.clear()
        points = truncation_sweep(rec, labelled_data, ["swd"], thresholds=[t], num_images=64)
        seen[t] = max(rec.max_abs)
        assert points[0]["truncation"] == t and math.isfinite(points[0]["swd"])
    assert seen[0.3] <= 0.3 and 0.25 < seen[0.3]   # inside, and filled up to the edge (resampled, not shrunk)
    assert seen[1.0] <= 1.0 and seen[None] > 2.0


def test_truncation_sweep_cli_writes_json_and_plot(biggan_run: Path, tmp_path: Path) -> None:
    from progan.cli import main

    main(["truncation-sweep", "--network", str(biggan_run), "--metrics", "swd", "--thresholds", "0.5,none",
          "--num", "64", "--standing-stats", "2", "--device", "cpu", "--out", str(tmp_path)])
    doc = json.loads((tmp_path / "truncation_sweep.json").read_text())
    assert [p["truncation"] for p in doc["points"]] == [0.5, None]
    assert all(math.isfinite(p["swd"]) for p in doc["points"]) and doc["meta"]["standing_stats"] == 2
    assert (tmp_path / "truncation_sweep.png").stat().st_size > 1000


@pytest.mark.parametrize("extra, match", [
    (["--thresholds", "0.5,-1"], "must be > 0"),
    (["--thresholds", "0.5,x"], "bad threshold"),
    (["--metrics", "swd,foo"], "unknown metric"),
])
def test_truncation_sweep_cli_errors_are_one_line(biggan_run: Path, capsys, extra, match) -> None:
    from progan.cli import main

    with pytest.raises(SystemExit) as e:
        main(["truncation-sweep", "--network", str(biggan_run), *extra])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and match in err, err
