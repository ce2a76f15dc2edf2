"""``progan train --init-from``: a new run (kimg 0, fresh optimizers) from another run's weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from progan.cli import main
from progan.training.checkpoint import load_generator, read_checkpoint
from progan.training.loop import train
from progan.training.snapshots import list_snapshots

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source_run(tiny_data: Path, tiny_config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(tiny_config(tiny_data, tmp_path_factory.mktemp("src"), 0.3), progress=False)


def _progan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def _train(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    return _progan(capsys, "train", "--preset", "tiny", "--quiet", "--device", "cpu", *args)


def _first_grid(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Records the first fakes grid a run saves (a short run's later grid reuses the name fakes000000.png)."""
    import progan.training.outputs as outputs

    first_grid: list[np.ndarray] = []
    real_save_image = outputs.save_image

    def save_image(array: np.ndarray, path: Path) -> Path:
        if Path(path).name.startswith("fakes") and not first_grid:
            first_grid.append(array.copy())
        return real_save_image(array, path)

    monkeypatch.setattr(outputs, "save_image", save_image)
    return first_grid


def _grid_of(G: torch.nn.Module, channels: int, res: int) -> np.ndarray:
    """What the run's first grid must hold: G at lod 0 on the grid latents (seed 0), 8 x 8 tiles."""
    G.lod = 0.0
    z = torch.randn(64, G.z_dim, generator=torch.Generator().manual_seed(0 + 123456789))
    with torch.no_grad():
        imgs = (G(z) * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    grid = imgs.reshape(8, 8, res, res, channels).transpose(0, 2, 1, 3, 4).reshape(8 * res, 8 * res, channels)
    return grid[..., 0] if channels == 1 else grid


def test_init_from_starts_a_full_resolution_run_at_kimg_0_from_the_source_weights(
        source_run: Path, tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    first_grid = _first_grid(monkeypatch)
    snap = list_snapshots(source_run)[-1]
    assert read_checkpoint(snap, prefixes=()).progress["lod"] > 0  # the source had not finished growing
    code, out = _train(capsys, "--data", str(tiny_data), "--outdir", str(tmp_path), "--init-from", str(snap),
                       "--kimg", "0.05")
    assert code == 0, out
    run = next(p for p in tmp_path.iterdir() if p.is_dir())
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert rows[0]["kimg"] <= 0.1 and all(r["lod"] == 0 and r["resolution"] == 32 for r in rows)
    options = json.loads((run / "training_options.json").read_text())
    assert options["run"]["init_from"] == str(snap) and options["schedule"]["initial_resolution"] == 32

    # The grid before the first step is the source's averaged G at full resolution, for the run's grid
    # latents.
    np.testing.assert_array_equal(first_grid[0], _grid_of(load_generator(snap), 1, 32))

    # Fresh optimizers: the new run's first snapshot has Adam step counts of its own steps only.
    last = read_checkpoint(list_snapshots(run)[-1])
    steps = {float(v) for k, v in last.tensors.items() if k.startswith("opt/G/") and k.endswith("/step")}
    assert steps and max(steps) <= 0.05 * 1000 / 8 + 1


def test_init_from_refuses_a_network_that_does_not_fit_the_data(
        source_run: Path, tmp_path: Path, fashion_mnist_dir: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from progan.data import prepare

    data16 = tmp_path / "fm16"
    prepare(fashion_mnist_dir, data16, max_images=64, resolution=16, progress=False)
    code, out = _train(capsys, "--data", str(data16), "--outdir", str(tmp_path / "runs"),
                       "--init-from", str(list_snapshots(source_run)[-1]))
    assert code == 2 and "makes 32x32x1 images" in out and "Traceback" not in out


def test_resume_and_init_from_are_exclusive(source_run: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _progan(capsys, "train", "--resume", str(source_run), "--init-from", str(source_run),
                        "--outdir", str(tmp_path))
    assert code == 2 and "pick one" in out


def test_init_from_an_authors_pickle_fine_tunes_their_network(tmp_path: Path, fashion_mnist_dir: Path,
                                                               capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A network of the authors' TF release (golden test file: 32x32 RGB, unconditional) fine-tuned
    directly."""
    from progan.data import prepare
    from progan.importers import read_pickle

    pkl = Path(__file__).parents[1] / "importers" / "golden" / "uncond32_fused.pkl"
    data = tmp_path / "fm-rgb"
    prepare(fashion_mnist_dir, data, max_images=64, channels=3, labels=False, progress=False)
    first_grid = _first_grid(monkeypatch)
    code, out = _train(capsys, "--data", str(data), "--outdir", str(tmp_path / "runs"),
                       "--init-from", str(pkl), "--kimg", "0.02")
    assert code == 0, out
    run = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir())
    options = json.loads((run / "training_options.json").read_text())
    imported = read_pickle(pkl).config
    assert options["network"]["fmap_base"] == imported.fmap_base and options["network"]["fused_scale"] is True
    # Before the first step G_ema is the pickle's Gs.
    np.testing.assert_array_equal(first_grid[0], _grid_of(read_pickle(pkl).build("G_ema"), 3, 32))
