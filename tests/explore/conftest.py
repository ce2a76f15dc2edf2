"""A tiny trained run and one ``progan explore`` server on it (a subprocess on a free loopback port), shared
by the explorer's tests; and ``progan generate`` run in-process for the reference images."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="progan explore needs the explore extra: pip install -e '.[explore]'")

MAX_UPLOAD_MB = 0.25


@pytest.fixture(scope="session")
def explore_run(tiny_data: Path, tiny_config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of the ``tiny`` preset, grown to its full 16x16 (grey): snapshots, fakes grids, stats.jsonl."""
    from progan.training.loop import train

    return train(tiny_config(tiny_data, tmp_path_factory.mktemp("explore-runs"), 0.5), progress=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ExploreServer:
    url: str
    run: Path
    log: Path
    max_upload_bytes: int
    process: subprocess.Popen[bytes]


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 240.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"progan explore exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail(f"progan explore did not answer within {timeout_s:.0f} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def explore_server(explore_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExploreServer]:
    """``progan explore RUN`` as a user starts it, stopped with Ctrl-C (SIGINT) at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp("explore-server") / "server.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "progan", "explore", str(explore_run), "--port", str(port),
             "--device", "cpu", "--max-upload-mb", str(MAX_UPLOAD_MB)],
            stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(url, process, log)
        yield ExploreServer(url=url, run=explore_run, log=log, max_upload_bytes=int(MAX_UPLOAD_MB * 2**20),
                            process=process)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def client(explore_server: ExploreServer, tmp_path: Path):
    from gradio_client import Client

    return Client(explore_server.url, verbose=False, download_files=str(tmp_path / "downloads"),
                  analytics_enabled=False)


@pytest.fixture(scope="session")
def progan_generate(explore_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., list[Path]]:
    """``progan generate --network RUN ARGS... --outdir DIR`` in-process; returns the files it wrote."""
    from progan.cli import main

    def run(*args: str) -> list[Path]:
        out = tmp_path_factory.mktemp("generate")
        main(["generate", "--network", str(explore_run), "--outdir", str(out), *args])
        return sorted(out.iterdir())

    return run
