"""The explorer's parts without a server: what PATH may hand out, upload checks, the training curves, the
host check, the command's one-line errors and the generator cache."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from progan.errors import UserError
from progan.explore.server import host_warning, is_loopback
from progan.explore.source import NEWEST, RunSource
from progan.explore.training_view import curves, summary
from progan.explore.uploads import read_mask, read_target


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_snapshots_are_listed_newest_first_and_only_listed_names_resolve(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "00001-x"
    _touch(run, "network-snapshot-000100.safetensors", "network-snapshot-000020.safetensors",
           "network-snapshot-000003.safetensors", "notes.safetensors")
    source = RunSource.open(run)
    assert source.snapshot_names() == ["network-snapshot-000100.safetensors",
                                       "network-snapshot-000020.safetensors",
                                       "network-snapshot-000003.safetensors"]
    newest = run.resolve() / "network-snapshot-000100.safetensors"
    assert source.resolve(NEWEST) == source.resolve("") == newest
    assert source.resolve("network-snapshot-000020.safetensors").name == "network-snapshot-000020.safetensors"
    _touch(tmp_path, "network-snapshot-000999.safetensors")
    outside = tmp_path / "network-snapshot-000999.safetensors"
    for bad in ("../network-snapshot-000999.safetensors", str(outside), "notes.safetensors", "/etc/passwd",
                "network-snapshot-000100.safetensors/.."):
        with pytest.raises(UserError, match="not one of the snapshots"):
            source.resolve(bad)


def test_a_folder_of_runs_opens_its_newest_run_and_a_file_opens_alone(tmp_path: Path) -> None:
    import os

    _touch(tmp_path / "00000-a", "network-snapshot-000200.safetensors")
    _touch(tmp_path / "00001-b", "network-snapshot-000010.safetensors")
    os.utime(tmp_path / "00000-a" / "network-snapshot-000200.safetensors", (1, 1))  # older file, higher kimg
    assert RunSource.open(tmp_path).run_dir == (tmp_path / "00001-b").resolve()
    one = RunSource.open(tmp_path / "00000-a" / "network-snapshot-000200.safetensors")
    assert one.run_dir is None and one.snapshot_names() == ["network-snapshot-000200.safetensors"]
    assert one.latest_fakes() is None and one.log_files() == []
    with pytest.raises(UserError, match="does not exist"):
        RunSource.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no network-snapshot"):
        RunSource.open(tmp_path / "empty")


def test_the_newest_fakes_grid_is_the_highest_kimg(tmp_path: Path) -> None:
    _touch(tmp_path, "stats.jsonl", "fakes000004.png", "fakes000100.png", "fakes000012.png", "fakes-init.png")
    assert RunSource.open(tmp_path).latest_fakes() == tmp_path.resolve() / "fakes000100.png"


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG")
    return buf.getvalue()


def test_an_upload_is_decoded_exactly_as_progan_prepare_stores_it(tmp_path: Path) -> None:
    from progan.data import prepare
    from progan.data.dataset import open_dataset

    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (30, 44, 4), dtype=np.uint8)  # not square, with alpha
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "photo.png").write_bytes(_png(rgba, "RGBA"))
    ds = open_dataset(prepare(tmp_path / "src", tmp_path / "ds", resolution=16, progress=False, workers=1))
    np.testing.assert_array_equal(read_target(tmp_path / "src" / "photo.png", 16, 3), ds.images(16)[0])


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header announces ``width x height`` but whose data is one tiny row."""
    raw = _png(np.zeros((1, 1), np.uint8))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return raw[:8] + chunk + raw[8 + 25:]


def test_uploads_are_refused_when_too_big_announced_huge_or_not_images(tmp_path: Path) -> None:
    ok = tmp_path / "ok.png"
    ok.write_bytes(_png(np.full((20, 20), 200, np.uint8)))
    assert read_target(ok, 8, 1).shape == (1, 8, 8)
    with pytest.raises(UserError, match=r"is 0\.0 MiB; the limit is 0\.0 MiB"):
        read_target(ok, 8, 1, max_bytes=10)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_claiming(8000, 8000))
    with pytest.raises(UserError, match="8000x8000 pixels; the limit is 40 megapixels"):
        read_target(bomb, 8, 1)
    noise = _png(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
    for name, data in (("text.png", b"hello"), ("cut.png", noise[: len(noise) // 2])):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UserError, match="not a readable image") as e:
            read_target(tmp_path / name, 8, 1)
        assert "BytesIO" not in str(e.value)
    with pytest.raises(UserError, match="grey or RGB"):
        read_target(ok, 8, 4)


def test_a_mask_is_white_for_known_pixels_and_must_have_some(tmp_path: Path) -> None:
    mask = np.zeros((32, 32), np.uint8)
    mask[:, :16] = 255
    (tmp_path / "m.png").write_bytes(_png(mask))
    known = read_mask(tmp_path / "m.png", 16)
    assert known.dtype == bool and known[:, :8].all() and not known[:, 8:].any()
    (tmp_path / "black.png").write_bytes(_png(np.zeros((8, 8), np.uint8)))
    with pytest.raises(UserError, match="no white pixels"):
        read_mask(tmp_path / "black.png", 16)


def test_curves_come_from_stats_and_metric_files(tmp_path: Path) -> None:
    rows = [{"tick": 1, "kimg": 4.0, "lod": 3.0, "resolution": 4, "img_per_sec": 900.5, "loss/D": -0.5,
             "loss/G": 0.7, "scores/real": 0.2},
            {"tick": 2, "kimg": 8.0, "lod": 2.5, "resolution": 8, "img_per_sec": 800.0, "loss/D": -0.25,
             "loss/G": 0.5, "scores/real": 0.1, "metric/swd": 12.5}]
    (tmp_path / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"tick": 3, "kim')
    metric_rows = [{"metric": "swd", "results": {"16": 3.0, "avg": 9.0}, "kimg": None},  # the reals floor
                   {"metric": "swd", "results": {"16": 4.0, "avg": 11.0}, "kimg": 8},
                   {"metric": "fid", "results": {"fid": 30.5}, "kimg": 8}]
    (tmp_path / "metric-swd.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metric_rows[:2]))
    (tmp_path / "metric-fid.jsonl").write_text(json.dumps(metric_rows[2]) + "\n")
    tables = curves(tmp_path)

    def points(title: str) -> set[tuple[float, float, str]]:
        return {tuple(r) for r in tables[title][["kimg", "value", "series"]].itertuples(index=False)}

    assert points("Losses") == {(4.0, -0.5, "loss/D"), (4.0, 0.7, "loss/G"), (4.0, 0.2, "scores/real"),
                                (8.0, -0.25, "loss/D"), (8.0, 0.5, "loss/G"), (8.0, 0.1, "scores/real")}
    assert points("Images per second") == {(4.0, 900.5, "img_per_sec"), (8.0, 800.0, "img_per_sec")}
    assert points("Level of detail (lod)") == {(4.0, 3.0, "lod"), (8.0, 2.5, "lod")}
    assert points("Metrics") == {(8.0, 12.5, "metric/swd"), (8.0, 11.0, "swd"), (8.0, 4.0, "swd/16"),
                                 (8.0, 30.5, "fid")}
    assert summary(tmp_path) == f"`{tmp_path.name}`: tick 2, 8 kimg, 8x8, lod 2.50, 800 img/s"
    assert all(t.empty for t in curves(tmp_path / "nothing").values())


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False), ("gpu-box.example", False),
])
def test_only_loopback_hosts_listen_without_a_warning(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    warning = host_warning(host)
    assert (warning is None) is loopback
    if warning is not None:
        assert "\n" not in warning and host in warning


def test_command_errors_are_one_line_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from progan.cli import main

    (tmp_path / "empty").mkdir()
    for args, message in (([str(tmp_path / "missing")], "does not exist"),
                          ([str(tmp_path / "empty")], "holds no network-snapshot"),
                          ([str(tmp_path), "--port", "70000"], "70000 is not in the range"),
                          ([str(tmp_path), "--max-upload-mb", "0"], "--max-upload-mb"),
                          ([str(tmp_path), "--threads", "0"], "--threads")):
        with pytest.raises(SystemExit) as e:
            main(["explore", *args])
        err = capsys.readouterr().err
        assert e.value.code == 2 and message in err and err.count("\n") == 1, err


def test_the_cache_loads_each_snapshot_once_and_g_apart_from_g_ema(explore_run: Path) -> None:
    import torch

    from progan import load_generator
    from progan.explore.networks import NetworkCache
    from progan.training.snapshots import list_snapshots

    before = torch.get_num_threads()
    cache = NetworkCache(RunSource.open(explore_run), torch.device("cpu"), capacity=2, threads=1)
    try:
        G_ema, info = cache.get(NEWEST)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert cache.get(NEWEST)[0] is G_ema
    newest = list_snapshots(explore_run)[-1]
    assert info.path == newest.resolve() and info.kimg is not None and f"{info.kimg:g} kimg" in info.summary()
    assert (info.resolution, info.channels, info.num_classes, info.has_batchnorm) == (16, 1, 0, False)
    G, _ = cache.get(newest.name, ema=False)
    reference = load_generator(str(newest), ema=False)
    for (name, p), q in zip(G.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(p, q), name
    assert any(not torch.equal(p, q) for p, q in zip(G.parameters(), G_ema.parameters()))
    assert cache.get(NEWEST, standing_batches=4)[0] is G_ema  # no batch norm: nothing to recompute


def _batchnorm_run(folder: Path, data: Path) -> Path:
    """A conditional BigGAN generator (batch norm inside) saved as a run's snapshot, trained on ``data``."""
    import torch

    from progan.config import NetworkConfig, RunConfig, TrainConfig
    from progan.config_io import to_dict
    from progan.networks import build_generator
    from progan.training.checkpoint import save_checkpoint

    net = NetworkConfig(architecture="biggan", resolution=16, channels=1, num_classes=3,
                        conditioning="projection", latent_size=8, shared_dim=4, biggan_ch=2,
                        equalized_lr=False, pixelnorm=False, normalize_latents=False)
    torch.manual_seed(5)
    G = build_generator(net)
    config = to_dict(TrainConfig(network=net, run=RunConfig(data=str(data))))
    folder.mkdir()
    return save_checkpoint(folder / "network-snapshot-000001.safetensors", modules={"G_ema": G},
                           optimizers={}, rng={}, config=config,
                           progress={"kimg": 1.0, "lod": 0.0, "state": {}})


def test_standing_statistics_and_class_names_of_a_batchnorm_generator(tmp_path: Path) -> None:
    import copy

    import torch

    from progan.explore.networks import NetworkCache
    from progan.networks.standing_stats import accumulate_standing_stats

    data = tmp_path / "data"
    data.mkdir()
    (data / "dataset.json").write_text(json.dumps({"class_names": ["shirt", "bag", "boot"]}))
    _batchnorm_run(tmp_path / "run", data)
    cache = NetworkCache(RunSource.open(tmp_path / "run"), torch.device("cpu"))
    G, info = cache.get(NEWEST)
    assert info.has_batchnorm and info.num_classes == 3 and info.class_names == ["shirt", "bag", "boot"]
    before = copy.deepcopy(G.state_dict())
    S, _ = cache.get(NEWEST, standing_batches=3, truncation=0.5)
    assert S is not G and cache.get(NEWEST, standing_batches=3, truncation=0.5)[0] is S
    reference = copy.deepcopy(G)
    accumulate_standing_stats(reference, num_batches=3, seed=0, truncation=0.5)
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert stats
    for k in stats:
        assert torch.equal(S.state_dict()[k], reference.state_dict()[k]), k
        assert torch.equal(G.state_dict()[k], before[k]), k  # the cached G itself is left as loaded
    assert any(not torch.equal(S.state_dict()[k], before[k]) for k in stats)
    (data / "dataset.json").write_text(json.dumps({"class_names": ["only", "two"]}))
    _batchnorm_run(tmp_path / "run2", data)
    other = NetworkCache(RunSource.open(tmp_path / "run2"), torch.device("cpu"))
    assert other.get(NEWEST)[1].class_names == ["0", "1", "2"]  # names that do not fit: the indices


def test_a_broken_snapshot_is_a_one_line_error_and_the_others_still_load(tmp_path: Path) -> None:
    import gradio as gr
    import torch

    from progan.explore.app import _on_page
    from progan.explore.networks import NetworkCache

    good = _batchnorm_run(tmp_path / "run", tmp_path)
    (tmp_path / "run" / "network-snapshot-000002.safetensors").write_bytes(good.read_bytes()[:5000])
    cache = NetworkCache(RunSource.open(tmp_path / "run"), torch.device("cpu"))
    with pytest.raises(UserError, match=r"000002\.safetensors is truncated or not a checkpoint"):
        cache.get(NEWEST)
    assert cache.get(good.name)[1].path == good.resolve()

    @_on_page
    def page_action(kind: str) -> str:
        if kind == "user":
            cache.get(NEWEST)
        raise ValueError("something\nunexpected")

    with pytest.raises(gr.Error, match="truncated or not a checkpoint") as e:
        page_action("user")
    assert "\n" not in str(e.value)
    with pytest.raises(gr.Error, match="ValueError: something unexpected"):
        page_action("bug")


def test_request_folders_are_removed_after_their_time(tmp_path: Path) -> None:
    import os

    from progan.explore.actions import Workdir

    work = Workdir(tmp_path, keep_s=0.0)
    old = work.new("generate")
    os.utime(old, (1, 1))
    fresh = work.new("generate")
    assert not old.exists() and fresh.is_dir()
    work.cleanup()
    assert not work.path.exists()
