"""``progan explore`` driven over HTTP (Gradio's API, through gradio_client): the pages give the commands'
files bit for bit, bad input gets a message while the server goes on, and nothing outside PATH is served."""

from __future__ import annotations

import io
import math
import re
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from progan import load_generator
from progan.images import to_uint8
from progan.training.snapshots import list_snapshots
from progan.training.stats import read_stats

pytestmark = pytest.mark.slow

NET = ("newest", "G_ema", 0)  # snapshot, generator, standing-statistics batches


def _pixels(path: str | Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _generate(client, seeds: str, truncation: float = 0.0, net: tuple = NET) -> Path:
    path, _ = client.predict(seeds, None, truncation, *net, api_name="/generate")
    return Path(path)


def test_generate_is_progan_generate_bit_for_bit(client, progan_generate) -> None:
    (ref,) = progan_generate("--seeds", "7")
    assert ref.name == "seed0007.png"
    assert _generate(client, "7").read_bytes() == ref.read_bytes()

    (ref_t,) = progan_generate("--seeds", "7", "--truncation", "0.5")
    page_t = _generate(client, "7", truncation=0.5)
    assert page_t.read_bytes() == ref_t.read_bytes()
    assert not np.array_equal(_pixels(page_t), _pixels(ref))  # the truncation reached the generator

    (grid,) = progan_generate("--seeds", "0-3", "--grid", "2x2")
    assert _generate(client, "0-3").read_bytes() == grid.read_bytes()


def test_generator_choice_uses_the_non_averaged_weights(client, explore_server) -> None:
    G = load_generator(str(list_snapshots(explore_server.run)[-1]), ema=False)
    z = torch.randn(1, int(G.z_dim), generator=torch.Generator().manual_seed(3))  # seed 3's latent
    expected = to_uint8(G(z))[0, 0].numpy()
    page = _pixels(_generate(client, "3", net=("newest", "G", 0)))
    np.testing.assert_array_equal(page, expected)
    assert not np.array_equal(page, _pixels(_generate(client, "3")))


def test_interpolation_endpoints_are_the_two_seeds_images(client, progan_generate) -> None:
    first, slider = client.predict(3, 5, None, "slerp", 7, 0, *NET, api_name="/interpolate")
    assert slider["maximum"] == 6
    last = client.predict(6, api_name="/interpolation_frame")
    middle = client.predict(3, api_name="/interpolation_frame")
    seed3, seed5 = progan_generate("--seeds", "3,5")
    assert Path(first).read_bytes() == seed3.read_bytes()
    assert Path(last).read_bytes() == seed5.read_bytes()
    assert not np.array_equal(_pixels(middle), _pixels(seed3))
    assert not np.array_equal(_pixels(middle), _pixels(seed5))


def test_export_writes_the_interpolation_as_gif(client, progan_generate) -> None:
    from progan.sampling.video import read_video

    gif = client.predict(3, 5, None, "lerp", 5, 0, "gif", 10, *NET, api_name="/export")
    frames = read_video(gif)
    seed3, seed5 = progan_generate("--seeds", "3,5")
    assert frames.shape[0] == 5
    # Grey 16x16 frames have at most 256 values: the GIF palette holds them exactly.
    np.testing.assert_array_equal(frames[0, :, :, 0], _pixels(seed3))
    np.testing.assert_array_equal(frames[-1, :, :, 0], _pixels(seed5))


def test_arithmetic_sheet_is_progan_arithmetic_bit_for_bit(client, explore_server, tmp_path: Path) -> None:
    from progan.cli import main

    sheet, result = client.predict("1-3", "4,5", "6", None, 0, *NET, api_name="/arithmetic")
    out = tmp_path / "sheet.png"
    main(["arithmetic", "--network", str(explore_server.run), "--base", "1-3", "--plus", "4,5",
          "--minus", "6", "--out", str(out)])
    assert Path(sheet).read_bytes() == out.read_bytes()
    assert _pixels(result).shape == _pixels(_generate(client, "1")).shape


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _project(client, target: Path, mask: Path | None = None, steps: int = 30) -> tuple:
    from gradio_client import handle_file

    return client.predict(handle_file(str(target)), None if mask is None else handle_file(str(mask)), None,
                          steps, 2, 0, *NET, api_name="/project")


def test_projection_reports_psnr_and_gives_the_latent_of_the_projection(client, explore_server,
                                                                        progan_generate) -> None:
    (seed7,) = progan_generate("--seeds", "7")
    target, projected, _, text, latent, video = _project(client, seed7)
    np.testing.assert_array_equal(_pixels(target), _pixels(seed7))  # same size: decoded unchanged
    mse = np.mean((_pixels(target).astype(np.float64) - _pixels(projected)) ** 2)
    shown = float(re.search(r"PSNR \*\*([\d.]+) dB", text).group(1))
    assert shown == pytest.approx(10 * math.log10(255**2 / mse), abs=0.006)
    z = np.load(latent)
    G = load_generator(str(list_snapshots(explore_server.run)[-1]))
    assert z.shape == (1, G.z_dim) and z.dtype == np.float32
    # The server rendered it in a batch of candidates, this is a batch of one: float sums may differ in the
    # last bit, which can move a pixel that sits on a rounding boundary by one level.
    again = to_uint8(G(torch.from_numpy(z)))[0, 0].numpy().astype(int)
    assert np.abs(again - _pixels(projected).astype(int)).max() <= 1
    assert (again != _pixels(projected)).mean() < 0.01
    assert Path(video).stat().st_size > 0


def test_projection_with_a_mask_keeps_the_known_pixels(client, progan_generate, tmp_path: Path) -> None:
    (seed7,) = progan_generate("--seeds", "7")
    photo = _pixels(seed7)[::-1].copy()  # something G did not make
    (tmp_path / "t.png").write_bytes(_png(photo))
    half = photo.shape[1] // 2
    mask = np.zeros(photo.shape, np.uint8)
    mask[:, :half] = 255
    (tmp_path / "m.png").write_bytes(_png(mask))
    target, projected, blended, text, _, _ = _project(client, tmp_path / "t.png", tmp_path / "m.png",
                                                      steps=10)
    b, t, p = _pixels(blended["value"]), _pixels(target), _pixels(projected)
    np.testing.assert_array_equal(b[:, :half], t[:, :half])
    np.testing.assert_array_equal(b[:, half:], p[:, half:])
    assert "on the known pixels" in text


def test_a_corrupt_upload_is_an_error_and_the_next_request_works(client, progan_generate,
                                                                  tmp_path: Path) -> None:
    from gradio_client.exceptions import AppError

    (seed7,) = progan_generate("--seeds", "7")
    good = seed7.read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "noise.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    for name in ("truncated.png", "noise.png"):
        with pytest.raises(AppError, match="not a readable image"):
            _project(client, tmp_path / name)
        assert _generate(client, "7").read_bytes() == good


def test_uploads_above_the_limit_are_refused_by_the_server(explore_server) -> None:
    big = b"\x89PNG\r\n\x1a\n" + bytes(explore_server.max_upload_bytes)
    r = httpx.post(explore_server.url + "gradio_api/upload", files={"files": ("big.png", big, "image/png")})
    assert r.status_code == 413
    small = httpx.post(explore_server.url + "gradio_api/upload",
                       files={"files": ("s.png", big[:1000], "image/png")})
    assert small.status_code == 200


@pytest.mark.parametrize("where", ["/etc/passwd", "RUN/stats.jsonl", "RUN/../", "pyproject.toml"])
def test_files_outside_what_the_server_wrote_are_refused(explore_server, where: str) -> None:
    path = where.replace("RUN", str(explore_server.run))
    r = httpx.get(f"{explore_server.url}gradio_api/file={path}")
    assert r.status_code == 403
    assert "not allowed" in r.text


def test_an_input_file_outside_the_uploads_is_refused(explore_server) -> None:
    """A request naming a server path as the uploaded image (instead of uploading one) gets an error."""
    data = [{"path": str(list_snapshots(explore_server.run)[-1]), "meta": {"_type": "gradio.FileData"}},
            None, None, 10, 1, 0, *NET]
    r = httpx.post(explore_server.url + "gradio_api/call/project", json={"data": data})
    event = r.json()["event_id"]
    stream = httpx.get(f"{explore_server.url}gradio_api/call/project/{event}", timeout=60).text
    assert "event: error" in stream
    assert "not uploaded by a user" in stream


def test_a_snapshot_name_outside_path_is_refused(client) -> None:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("1", None, 0, "../../../etc/passwd", "G_ema", 0, api_name="/generate")


def test_training_view_shows_the_newest_grid_and_the_logged_curves(client, explore_server) -> None:
    run = explore_server.run
    summary, fakes, losses, speed, lod, metrics, snapshots = client.predict(api_name="/training")
    newest = max(run.glob("fakes*.png"), key=lambda p: int(p.stem[5:]))
    assert Path(fakes).read_bytes() == newest.read_bytes()
    rows = read_stats(run / "stats.jsonl")
    assert f"{rows[-1]['kimg']:g} kimg" in summary
    table = losses["value"]
    got = {(kimg, series): value for kimg, value, series in table["data"]}
    for row in rows:
        assert got[(row["kimg"], "loss/D")] == pytest.approx(row["loss/D"])
    assert [v for _, v, _ in lod["value"]["data"]] == pytest.approx([r["lod"] for r in rows])
    assert [v for _, v, _ in speed["value"]["data"]] == pytest.approx([r["img_per_sec"] for r in rows])
    assert metrics["value"]["data"] == []  # no metric was computed during this run
    names = [value for _, value in snapshots["choices"]]
    assert names == ["newest"] + [p.name for p in reversed(list_snapshots(run))]


def test_long_work_in_one_tab_does_not_block_another(explore_server, progan_generate, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    def connect(name: str) -> Client:
        return Client(explore_server.url, verbose=False, download_files=str(tmp_path / name),
                      analytics_enabled=False)

    (seed7,) = progan_generate("--seeds", "7")
    tab1, tab2 = connect("tab1"), connect("tab2")
    job = tab1.submit(handle_file(str(seed7)), None, None, 1000, 4, 0, *NET, api_name="/project")
    waiting = ("STARTING", "JOINING_QUEUE", "QUEUE_FULL", "IN_QUEUE", "SENDING_DATA")
    for _ in range(1200):  # until the server is working on it (at most a minute)
        if job.status().code.name not in waiting:
            break
        threading.Event().wait(0.05)
    path, _ = tab2.predict("7", None, 0, *NET, api_name="/generate")
    assert not job.done(), "the projection finished before the other tab's image came back"
    assert Path(path).read_bytes() == seed7.read_bytes()
    progress = None
    while progress is None and not job.done():  # the page's live progress bar: the projector's steps
        progress = job.status().progress_data
        threading.Event().wait(0.05)
    assert progress is not None
    assert (progress[0].desc, progress[0].unit, progress[0].length) == ("project", "step", 1000)
    assert "1000 steps x 4 restarts" in job.result(timeout=600)[3]
