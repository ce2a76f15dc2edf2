"""``progan explore`` start-up and round-trip times, and the README's screenshot of the page.

Start-up: from launching ``progan explore RUN`` to the Generate button being clickable in headless Chromium
(the browser is started beforehand, as a user's would be open). Round trip: one generate request through
Gradio's API (gradio_client, the way a page's request goes) for one seed, and the same from the page itself
(click, then the new image shown), and the generate action alone at 1 and 2 torch threads. The load average
and the busiest other processes are recorded with the numbers, since the machine may be shared; so is the
CPU time the server used until it answered (imports and set-up run on one core, so on an idle machine the
wall time is about that).

    python benchmarks/bench_explore.py --run runs/00000-fashion-mnist-fashion-mnist-train-32 \\
        [--out benchmarks/results/explore.json] [--screenshot docs/explore.png]

Needs the test extra (gradio, selenium) and Debian's chromium + chromium-driver.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _busiest(n: int = 6) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pcpu,etimes,comm", "--sort=-pcpu"], capture_output=True,
                         text=True, check=False).stdout
    return [" ".join(line.split()) for line in out.splitlines()[1:n + 1]]


def _import_seconds(module: str) -> dict[str, float]:
    """Wall and CPU time of ``python -c "import MODULE"`` (the CPU time is what an idle core would take)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": round(wall, 2), "cpu": round(cpu, 2)}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_http(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"progan explore exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.02)
    raise SystemExit("progan explore did not answer")


def _click_generate(driver, seed: int) -> float:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    box = driver.find_element(By.CSS_SELECTOR, "#seeds textarea, #seeds input")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(seed))
    t = time.perf_counter()
    driver.find_element(By.CSS_SELECTOR, "#generate-btn").click()
    WebDriverWait(driver, 60, poll_frequency=0.005).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, f"#generate-image img[src*='seed{seed:04d}']")))
    return time.perf_counter() - t


def _threads(run: str, repeats: int) -> dict[str, dict[str, float]]:
    """The page's generate action in this process, one seed per call, at 1 and 2 torch threads."""
    import torch

    from progan.explore import actions
    from progan.explore.networks import NetworkCache
    from progan.explore.source import NEWEST, RunSource

    G, _ = NetworkCache(RunSource.open(run), "cpu").get(NEWEST)
    work = actions.Workdir()
    out = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            times = []
            for seed in range(repeats + 1):
                t = time.perf_counter()
                actions.generate_image(G, [seed], work.new("generate"))
                times.append(time.perf_counter() - t)
            out[f"{n}_threads"] = _stats(times[1:])
    finally:
        work.cleanup()
    return out


def _stats(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {"median_ms": round(statistics.median(ms), 1), "min_ms": round(ms[0], 1),
            "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 1), "max_ms": round(ms[-1], 1), "n": len(ms)}


def _screenshot(driver, path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    box = driver.find_element(By.CSS_SELECTOR, "#seeds textarea, #seeds input")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys("0-24")
    driver.find_element(By.CSS_SELECTOR, "#generate-btn").click()
    WebDriverWait(driver, 60).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "#generate-image img[src*='grid000']")))
    time.sleep(1.0)  # let the image fade in
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="run folder or snapshot to open")
    ap.add_argument("--repeats", type=int, default=30, help="generate requests per round-trip measurement")
    ap.add_argument("--out", default="benchmarks/results/explore.json")
    ap.add_argument("--screenshot", default=None, help="write a screenshot of the page here (PNG)")
    args = ap.parse_args()

    from gradio_client import Client

    from progan.explore.browser import chromium, missing_reason

    reason = missing_reason()
    if reason:
        raise SystemExit(reason)
    result: dict[str, object] = {
        "run": args.run, "platform": platform.platform(), "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()], "busiest_processes_start": _busiest(),
        "import_seconds": {"torch": _import_seconds("torch"), "gradio": _import_seconds("gradio")},
    }
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    with chromium(1400, 930) as driver:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        t0 = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "progan", "explore", args.run, "--port", str(port)],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            assert process.stdout is not None
            for line in process.stdout:  # "progan explore: URL (Ctrl-C stops)" once it listens
                if line.startswith(b"progan explore: http"):
                    break
            cpu_http = _cpu_seconds(process.pid)
            _wait_http(url, process)
            t_http = time.perf_counter() - t0
            driver.get(url)
            WebDriverWait(driver, 60, poll_frequency=0.01).until(
                ec.element_to_be_clickable((By.CSS_SELECTOR, "#generate-btn")))
            t_page = time.perf_counter() - t0
            result["startup_s"] = {"server_answers": round(t_http, 2), "page_usable": round(t_page, 2),
                                   "server_cpu_until_answer": round(cpu_http, 2)}

            client = Client(url, verbose=False, download_files=tempfile.mkdtemp(), analytics_enabled=False)
            api = []
            for seed in range(args.repeats + 1):
                t = time.perf_counter()
                client.predict(str(seed), None, 0, "newest", "G_ema", 0, api_name="/generate")
                api.append(time.perf_counter() - t)
            result["generate_round_trip_api"] = _stats(api[1:])  # the first loads nothing more, but warms up
            page = [_click_generate(driver, 1000 + i) for i in range(max(5, args.repeats // 3))]
            result["generate_round_trip_page"] = _stats(page)
            result["network"] = client.predict("newest", "G_ema", api_name="/describe")[0]
            if args.screenshot:
                _screenshot(driver, Path(args.screenshot))
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
    result["generate_action_in_process"] = _threads(args.run, args.repeats)
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
