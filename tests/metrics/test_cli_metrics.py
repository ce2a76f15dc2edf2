"""progan metrics / progan classifier: tables, JSON lines, snapshot discovery and one-line errors."""

from __future__ import annotations

import json

import pytest

import progan
from progan.cli import main


def run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def run_dir(tmp_path, fake_data, tiny_g, monkeypatch):
    data = fake_data(n=40, res=16)
    rd = tmp_path / "00001-run"
    rd.mkdir()
    for kimg in (0, 120, 40):
        (rd / f"network-snapshot-{kimg:06d}.safetensors").write_bytes(b"")
    # As training writes it:
    (rd / "training_options.json").write_text(json.dumps({"run": {"data": str(data)}}))
    loaded = []

    def load_generator(path, device="cpu", ema=True):
        loaded.append(path)
        return tiny_g(res=16)

    monkeypatch.setattr(progan, "load_generator", load_generator)
    return rd, data, loaded


def test_every_snapshot_of_a_run_with_data_from_options(run_dir, capsys):
    rd, _, loaded = run_dir
    code, out, err = run(["metrics", "--network", str(rd), "--metrics", "swd,msssim", "--num", "20",
                          "--device", "cpu"], capsys)
    assert code == 0, err
    assert [p.rsplit("-", 1)[-1] for p in loaded] == ["000000.safetensors", "000040.safetensors",
                                                      "000120.safetensors"]
    assert "network-snapshot-000120.safetensors" in out and "msssim" in out and "swd" in out
    rows = [json.loads(line) for line in (rd / "metric-swd.jsonl").read_text().splitlines()]
    assert [r["kimg"] for r in rows] == [0, 40, 120]
    assert set(rows[0]["results"]) == {"16", "avg"} and rows[0]["num_images"] == 20
    assert len((rd / "metric-msssim.jsonl").read_text().splitlines()) == 3


def test_single_snapshot_and_real_vs_real(run_dir, capsys):
    rd, data, _ = run_dir
    snap = rd / "network-snapshot-000040.safetensors"
    code, out, err = run(["metrics", "--network", str(snap), "--data", str(data), "--metrics", "swd",
                          "--num", "20", "--device", "cpu"], capsys)
    assert code == 0, err
    assert len((rd / "metric-swd.jsonl").read_text().splitlines()) == 1
    code, out, err = run(["metrics", "--data", str(data), "--metrics", "swd", "--num", "20", "--real-vs-real",
                          "--device", "cpu"], capsys)
    assert code == 0, err
    assert "reals-vs-reals" in out
    code, out, err = run(["metrics", "--network", str(snap), "--metrics", "swd", "--num", "20",
                          "--real-vs-real", "--device", "cpu"], capsys)
    assert code == 0, err
    assert out.index("reals-vs-reals") < out.index("network-snapshot-000040")  # the floor beside the fakes
    rows = [json.loads(line) for line in (rd / "metric-swd.jsonl").read_text().splitlines()]
    assert [r["real_vs_real"] for r in rows] == [False, True, False]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--metrics", "swd,bogus"], "unknown metric(s) bogus"),
        (["--metrics", "swd", "--num", "1"], "--num"),
        (["--metrics", "swd", "--truncation", "0"], "--truncation"),
        (["--metrics", "swd", "--device", "tpu9"], "--device 'tpu9' is not a device"),
        (["--metrics", "cas"], "cas needs a classifier"),
        (["--metrics", "swd", "--features", "/nonexistent.safetensors"], "does not exist"),
    ],
)
def test_bad_options_are_one_line_errors(run_dir, capsys, args, message):
    rd, _, _ = run_dir
    code, out, err = run(["metrics", "--network", str(rd), *args], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_network_or_data(tmp_path, fake_data, capsys):
    code, _, err = run(["metrics", "--metrics", "swd"], capsys)
    assert code == 2 and "--network is required" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(["metrics", "--network", str(empty), "--metrics", "swd"], capsys)
    assert code == 2 and "no network-snapshot-" in err
    (empty / "network-snapshot-000000.safetensors").write_bytes(b"")
    code, _, err = run(["metrics", "--network", str(empty), "--metrics", "swd"], capsys)
    assert code == 2 and "--data is required" in err


def test_classifier_train_cli(tmp_path, fake_data, capsys):
    data = fake_data(n=64, res=16, classes=2)
    out_file = tmp_path / "clf.safetensors"
    code, out, err = run(["classifier", "train", "--data", str(data), "--out", str(out_file), "--epochs", "2",
                          "--device", "cpu", "--quiet"], capsys)
    assert code == 0, err
    assert out_file.is_file() and "held-out accuracy" in out
    unlabelled = fake_data(n=16, res=16, name="unlabelled")
    code, _, err = run(["classifier", "train", "--data", str(unlabelled), "--quiet"], capsys)
    assert code == 2 and "has no labels" in err
