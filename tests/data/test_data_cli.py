"""progan prepare / dataset info|grid through the real dispatcher: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from data_builders import make_idx_folder  # type: ignore[import-not-found]
from PIL import Image

from progan.cli import main


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def mnist(tmp_path: Path) -> Path:
    make_idx_folder(tmp_path / "mnist", n_train=25)
    return tmp_path / "mnist"


def test_prepare_info_grid(mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = str(tmp_path / "ds")
    code, out, err = run(["prepare", str(mnist), ds, "--quiet", "--max-images", "20"], capsys)
    assert code == 0, err
    assert "prepared 20 images at 32x32x1, 10 classes" in out
    code, out, _ = run(["dataset", "info", str(tmp_path / "ds"), "--json", "--verify"], capsys)
    meta = json.loads(out)
    assert code == 0 and meta["num_images"] == 20 and meta["num_classes"] == 10
    code, out, _ = run(["dataset", "info", str(tmp_path / "ds")], capsys)
    assert code == 0 and "32 16 8 4" in out and "10: 0, 1, 2" in out
    png = tmp_path / "grid.png"
    code, out, err = run(["dataset", "grid", ds, str(png), "--cols", "3", "--resolution", "16"], capsys)
    assert code == 0, err
    grid = np.asarray(Image.open(png))
    assert grid.shape == (10 * 64, 3 * 64)  # one row per class, 16x16 cells shown at 64 px


@pytest.mark.parametrize("args, text", [
    (["prepare", "{tmp}/nope", "{tmp}/o"], "does not exist"),
    (["prepare", "{mnist}", "{tmp}/o", "--resolution", "24"], "power of two"),
    (["prepare", "{mnist}", "{tmp}/o", "--channels", "2"], "'2' is not one of"),
    (["prepare", "{mnist}", "{tmp}/o", "--workers", "-1"], "--workers"),
    (["prepare", "{mnist}", "{mnist}"], "not empty"),
    (["prepare", "{tmp}/empty", "{tmp}/o"], "no images found"),
    (["dataset", "info", "{mnist}"], "not a prepared data set"),
    (["dataset", "grid", "{mnist}", "{tmp}/g.gif"], "must end in .png"),
])
def test_errors_exit_2_with_one_line(args: list[str], text: str, mnist: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    argv = [a.format(tmp=tmp_path, mnist=mnist) for a in args]
    code, out, err = run(argv, capsys)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("progan") and text in err, err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_subprocess_entry_point(mnist: Path, tmp_path: Path) -> None:
    argv = ["prepare", str(mnist), str(tmp_path / "o"), "--resolution", "3"]
    bad = subprocess.run([sys.executable, "-m", "progan", *argv], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "power of two" in bad.stderr
