"""Starting and stopping the explorer's web server (Gradio's, on uvicorn).

Safety choices: it listens on the loopback interface unless told otherwise (then says so once); Gradio's
upload and cache folders are private to this server, so the only files it hands out are the ones it wrote
(run files are copied there first) and the user's own uploads; uploads are capped in size while they are
received; Gradio's telemetry, server-side rendering and MCP endpoint are off.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progan.errors import UserError
from progan.explore.uploads import DEFAULT_MAX_BYTES

__all__ = ["Server", "host_warning", "is_loopback", "serve", "start"]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); a host name is not assumed to be."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_warning(host: str) -> str | None:
    """The one line printed when the page is reachable from other machines (None on loopback)."""
    if is_loopback(host):
        return None
    return (f"progan explore: warning: listening on {host}, not loopback: anyone who can reach it can use "
            "the page and run the generator (there is no login)")


@dataclass
class Server:
    """A running explorer: its address and what :meth:`close` must stop and remove."""

    url: str
    demo: Any
    workdir: Any

    def close(self) -> None:
        try:
            self.demo.close()
        finally:
            self.workdir.cleanup()


def _private_gradio_dirs(root: Path) -> None:
    # Gradio serves every file under its upload folder and examples cache: both go into this server's own
    # folder. Read when the components are built, so this happens before that.
    os.environ["GRADIO_TEMP_DIR"] = str(root / "gradio")
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(root / "examples")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"


def _warm_up(cache: Any, snapshot: str) -> None:
    try:
        cache.get(snapshot)
    except UserError:
        pass  # no snapshot yet, or a broken one: the page says so when it asks


def start(path: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 7860, device: str = "auto",
          max_upload_bytes: int = DEFAULT_MAX_BYTES, threads: int | None = 1,
          echo: Callable[[str], None] = print) -> Server:
    """Start the explorer on ``path`` in background threads and return once it answers.

    ``threads``: torch's CPU threads for each request (None: torch's default). One is the default: the
    page's requests run side by side, and on a busy CPU a small generator makes one image far faster on one
    thread than on two (benchmarks/bench_explore.py: 9.3 vs 476 ms median for the 32x32 demo generator at
    load average 7 on 2 cores).
    """
    from progan.explore.actions import Workdir
    from progan.explore.networks import NetworkCache
    from progan.explore.source import NEWEST, RunSource

    if not 1 <= port <= 65535:
        raise UserError(f"--port must be in 1..65535, got {port}")
    source = RunSource.open(path)
    if device not in ("auto", "cpu"):  # a GPU request is checked now (it imports torch): one line if wrong
        from progan.device import resolve_device

        resolve_device(device)
    warning = host_warning(host)
    if warning is not None:
        echo(warning)
    workdir = Workdir()
    _private_gradio_dirs(workdir.path)
    try:
        try:
            import gradio  # noqa: F401
        except ImportError:
            raise UserError("progan explore needs Gradio: pip install 'progan[explore]'") from None
        from progan.explore.app import CSS, build_app, theme

        cache = NetworkCache(source, device, threads=threads)
        demo = build_app(source, cache, workdir, max_upload_bytes=max_upload_bytes)
        demo.queue(default_concurrency_limit=2)
        try:
            demo.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True,
                        max_file_size=max_upload_bytes, ssr_mode=False, mcp_server=False, pwa=False,
                        enable_monitoring=False, footer_links=[], theme=theme(), css=CSS, show_error=True)
        except OSError as e:
            raise UserError(f"cannot listen on {host}:{port} ({' '.join(str(e).split())[:160]}); "
                            "pick another --port") from None
    except BaseException:
        workdir.cleanup()
        raise
    # Importing torch and loading the newest generator take a second or two: done once the page is served.
    threading.Thread(target=_warm_up, args=(cache, NEWEST), name="load-generator", daemon=True).start()
    shown = f"[{host}]" if ":" in host else host
    return Server(url=f"http://{shown}:{port}/", demo=demo, workdir=workdir)


def serve(path: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 7860, device: str = "auto",
          max_upload_bytes: int = DEFAULT_MAX_BYTES, threads: int | None = 1,
          echo: Callable[[str], None] = print) -> None:
    """Run the explorer until Ctrl-C (``progan explore``)."""
    server = start(path, host=host, port=port, device=device, max_upload_bytes=max_upload_bytes,
                   threads=threads, echo=echo)
    echo(f"progan explore: {server.url} (Ctrl-C stops)")

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (kill, timeout) cleans up like Ctrl-C

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            time.sleep(3600)
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.close()
