"""The sampling commands through ``progan.cli.main``: results on disk, and one-line errors with exit 2."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from progan.cli import main
from progan.sampling.video import read_video


def _run(argv: list[str]) -> None:
    main(argv)


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], match: str) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("progan")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert match in lines[0], lines[0]
    return lines[0]


def test_generate_cli(uncond_ckpt: Path, tmp_path: Path) -> None:
    _run(["generate", "--network", str(uncond_ckpt.parent), "--seeds", "0-5", "--outdir", str(tmp_path / "g"),
          "--grid", "3x2", "--device", "cpu", "--threads", "2"])
    assert np.asarray(Image.open(tmp_path / "g" / "grid000.png")).shape == (32, 48, 3)
    assert torch.get_num_threads() == 2  # the one_thread fixture restores the setting afterwards


def test_interpolate_and_training_video_cli(uncond_ckpt: Path, tmp_path: Path) -> None:
    _run(["interpolate", "--network", str(uncond_ckpt), "--out", str(tmp_path / "i.mp4"), "--frames", "7",
          "--seeds", "1,2", "--fps", "7"])
    assert read_video(tmp_path / "i.mp4").shape == (7, 16, 16, 3)


@pytest.mark.parametrize("argv,match", [
    (["generate", "--network", "{missing}", "--seeds", "0", "--outdir", "{tmp}/o"], "does not exist"),
    (["generate", "--network", "{foreign}", "--seeds", "0", "--outdir", "{tmp}/o"], "not a"),
    (["generate", "--network", "{ckpt}", "--seeds", "0-x", "--outdir", "{tmp}/o"], "bad seeds"),
    (["generate", "--network", "{ckpt}", "--seeds", "-3", "--outdir", "{tmp}/o"], "seeds"),
    (["generate", "--network", "{ckpt}", "--seeds", "0", "--outdir", "{tmp}/o", "--grid", "4"], "bad grid"),
    (["generate", "--network", "{ckpt}", "--seeds", "0", "--outdir", "{tmp}/o", "--class", "1"],
     "unconditional"),
    (["generate", "--network", "{cond}", "--seeds", "0", "--outdir", "{tmp}/o", "--class", "3"],
     "out of range"),
    (["generate", "--network", "{ckpt}", "--seeds", "0", "--outdir", "{ro}/o"], "not writable"),
    (["generate", "--network", "{ckpt}", "--seeds", "0", "--outdir", "{tmp}/file/o"], "cannot create"),
    (["generate", "--network", "{ckpt}", "--seeds", "0", "--outdir", "{tmp}/o", "--device", "cuda:x"],
     "device"),
    (["interpolate", "--network", "{ckpt}", "--out", "{tmp}/v.avi"], ".mp4 or .gif"),
    (["interpolate", "--network", "{ckpt}", "--out", "{tmp}/none/v.mp4"], "does not exist"),
    (["interpolate", "--network", "{ckpt}", "--out", "{ro}/v.mp4"], "not writable"),
    (["interpolate", "--network", "{ckpt}", "--out", "{tmp}/file/v.mp4"], "does not exist"),
    (["interpolate", "--network", "{ckpt}", "--out", "{tmp}/v.mp4", "--seeds", "3"], "at least 2"),
    (["interpolate", "--network", "{cond}", "--out", "{tmp}/v.mp4"], "pass --class"),
    (["interpolate", "--network", "{ckpt}", "--out", "{tmp}/v.mp4", "--mode", "spin"], "mode"),
    (["training-video", "{tmp}", "--out", "{tmp}/t.mp4"], "no fakes"),
    (["training-video", "{tmp}/nope", "--out", "{tmp}/t.mp4"], "does not exist"),
    (["arithmetic", "--network", "{ckpt}", "--base", "0", "--plus", "1", "--out", "{tmp}/a.txt"], ".png"),
    (["arithmetic", "--network", "{ckpt}", "--base", "0", "--plus", "1,", "--out", "{tmp}/a.png"], "seeds"),
    (["arithmetic", "--network", "{ckpt}", "--base", "0", "--out", "{tmp}/a.png"], "--plus"),
])
def test_cli_errors_are_one_line_exit_2(argv: list[str], match: str, uncond_ckpt: Path, cond_ckpt: Path,
                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "foreign.safetensors"
    foreign.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    if "{ro}" in " ".join(argv) and os.access(ro, os.W_OK):
        pytest.skip("running as root: permissions are not enforced")
    (tmp_path / "file").write_text("x")
    subs = {"{missing}": str(tmp_path / "missing.safetensors"), "{foreign}": str(foreign),
            "{ckpt}": str(uncond_ckpt), "{cond}": str(cond_ckpt), "{tmp}": str(tmp_path), "{ro}": str(ro)}
    _fails([_fill(a, subs) for a in argv], capsys, match)


def test_project_export_arithmetic_training_video_cli(uncond_ckpt: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    Image.fromarray(np.full((20, 20, 3), 90, np.uint8)).save(tmp_path / "t.png")
    _run(["project", "--network", str(uncond_ckpt), "--target", str(tmp_path / "t.png"), "--out",
          str(tmp_path / "p"), "--steps", "5", "--restarts", "1"])
    assert "PSNR" in capsys.readouterr().out
    assert (tmp_path / "p" / "latent.npy").is_file()
    _run(["export", "--network", str(uncond_ckpt), "--out", str(tmp_path / "g.pt")])
    assert (tmp_path / "g.pt").is_file()
    _run(["arithmetic", "--network", str(uncond_ckpt), "--base", "0-2", "--plus", "3", "--minus", "4",
          "--out", str(tmp_path / "a.png")])
    assert (tmp_path / "a.png").is_file()
    run = tmp_path / "run"
    run.mkdir()
    for k in (0, 40):
        Image.fromarray(np.full((32, 32, 3), k, np.uint8)).save(run / f"fakes{k:06d}.png")
    _run(["training-video", str(run), "--out", str(tmp_path / "t.mp4"), "--fps", "2"])
    assert read_video(tmp_path / "t.mp4").shape[0] == 2


@pytest.mark.parametrize("argv,match", [
    (["project", "--network", "{ckpt}", "--target", "{tmp}/none.png", "--out", "{tmp}/p"], "does not exist"),
    (["project", "--network", "{ckpt}", "--target", "{tmp}/file", "--out", "{tmp}/p"],
     "not a readable image"),
    (["project", "--network", "{ckpt}", "--target", "{tmp}/img.png", "--mask", "{tmp}/m.png",
      "--out", "{tmp}/p"],
     "does not exist"),
    (["project", "--network", "{ckpt}", "--target", "{tmp}/img.png", "--out", "{tmp}/p", "--steps", "0"],
     "steps"),
    (["export", "--network", "{ckpt}", "--out", "{tmp}/g.bin"], "suffix"),
    (["export", "--network", "{missing}", "--out", "{tmp}/g.pt"], "does not exist"),
    (["export", "--network", "{ckpt}", "--out", "{tmp}/g.pt", "--format", "tflite"], "format"),
])
def test_more_cli_errors(argv: list[str], match: str, uncond_ckpt: Path, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "img.png")
    subs = {"{missing}": str(tmp_path / "missing.safetensors"), "{ckpt}": str(uncond_ckpt),
            "{tmp}": str(tmp_path)}
    _fails([_fill(a, subs) for a in argv], capsys, match)


def _fill(arg: str, subs: dict[str, str]) -> str:
    for k, v in subs.items():
        arg = arg.replace(k, v)
    return arg


def test_console_entry_point_error_is_one_line_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "progan", "generate", "--network", str(tmp_path / "none"),
                           "--seeds", "0", "--outdir", str(tmp_path / "o")], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr, proc.stderr
