"""Two-node rehearsal on one machine: the multi-node command of the README, run for real.

Two ``torchrun --nnodes 2 --node-rank {0,1} --rdzv-backend c10d --rdzv-endpoint 127.0.0.1:PORT`` launchers,
one process each, each in a session of its own like a separate machine, train the tiny preset on 512
Fashion-MNIST images over loopback only. Checked:

1. both end with the same snapshot as one process (weights and Adam state, to float rounding);
2. stopping one node stops the other with one ``progan train: error:`` line, and the last snapshot is
   valid and resumes: node 1's launcher terminated (SIGTERM), node 1's launcher killed (SIGKILL: its
   worker follows it), and node 1 dying whole (SIGKILL to its process group).

Takes a few minutes on 2 busy cores (too long for the test suite). Prints a summary and writes
``benchmarks/results/two-nodes.json``.

    python benchmarks/rehearse_two_nodes.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors import safe_open

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
TRAIN = ["-m", "progan", "train", "--preset", "tiny", "--device", "cpu", "--quiet",
         "--set", "schedule.tick_kimg_base=0.05"]
LOST = "progan train: error: lost contact with another process"


def _tensors(run: Path) -> dict[str, torch.Tensor]:
    from progan.training.snapshots import list_snapshots

    with safe_open(str(list_snapshots(run)[-1]), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys() if k.startswith(("G.", "D.", "G_ema.", "opt/"))}  # noqa: SIM118


def _nodes(data: Path, outdir: Path, kimg: float, *extra: str) -> list[subprocess.Popen]:
    from progan.training.distributed import free_port

    port = free_port()
    procs = []
    for node in (0, 1):
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
               "--node-rank", str(node), "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
               "--rdzv-id", "rehearsal", "--rdzv-conf", f"is_host={int(node == 0)}",
               "--local-addr", "127.0.0.1",
               *TRAIN, "--data", str(data), "--outdir", str(outdir), "--kimg", str(kimg), *extra]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                                      start_new_session=True))  # a process group per node, like two machines
    return procs


def same_snapshot(data: Path, tmp: Path) -> dict[str, object]:
    t0 = time.perf_counter()
    one = subprocess.run([sys.executable, *TRAIN, "--data", str(data), "--outdir", str(tmp / "one"),
                          "--kimg", "0.2"], env=ENV, capture_output=True, text=True, check=True)
    t1 = time.perf_counter()
    nodes = _nodes(data, tmp / "two", 0.2)
    outs = [p.communicate(timeout=900) for p in nodes]
    t2 = time.perf_counter()
    codes = [p.returncode for p in nodes]
    assert codes == [0, 0], (codes, [o[1][-2000:] for o in outs])
    a = _tensors(Path(one.stdout.split("done: ")[-1].strip()))
    b = _tensors(next((tmp / "two").iterdir()))
    assert sorted(a) == sorted(b)
    worst = max(float((a[k] - b[k]).abs().max()) / max(float(a[k].abs().max()), 1e-3) for k in a
                if not k.endswith("/step"))
    steps_equal = all(float(a[k]) == float(b[k]) for k in a if k.endswith("/step"))
    return {"one_process_s": t1 - t0, "two_nodes_s": t2 - t1, "return_codes": codes, "tensors": len(a),
            "worst_relative_difference": worst, "adam_steps_equal": steps_equal}


def stop_one_node(data: Path, outdir: Path, how: str) -> dict[str, object]:
    nodes = _nodes(data, outdir, 20.0, "--snap", "1")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not list(outdir.glob("*/network-snapshot-*.safetensors")):
        time.sleep(0.2)
    time.sleep(1.0)
    victim, survivor = nodes[1], nodes[0]
    t0 = time.monotonic()
    if how == "sigterm-launcher":
        victim.send_signal(signal.SIGTERM)
    elif how == "sigkill-launcher":
        victim.send_signal(signal.SIGKILL)
    else:  # the whole node dies
        os.killpg(victim.pid, signal.SIGKILL)
    try:
        _, err = survivor.communicate(timeout=300)
        stopped_after = time.monotonic() - t0
    except subprocess.TimeoutExpired:
        os.killpg(survivor.pid, signal.SIGKILL)
        _, err = survivor.communicate()
        stopped_after = float("inf")
    victim.communicate(timeout=60)
    lines = [line for line in err.splitlines() if line.startswith("progan train: error:")]
    import progan
    from progan.training.snapshots import list_snapshots

    run = next(outdir.iterdir())
    snap = list_snapshots(run)[-1]
    G = progan.load_generator(snap)
    finite = all(bool(torch.isfinite(p).all()) for p in G.parameters())
    kimg = json.loads((run / "stats.jsonl").read_text().splitlines()[-1])["kimg"]
    resumed = subprocess.run([sys.executable, *TRAIN, "--data", str(data), "--outdir", str(outdir),
                              "--resume", "latest", "--kimg", f"{kimg + 0.05:.3f}"],
                             env=ENV, capture_output=True, text=True, check=False)
    return {"how": how, "survivor_return_code": survivor.returncode, "stopped_after_s": stopped_after,
            "progan_error_lines": lines, "snapshot": snap.name, "snapshot_loads_finite": finite,
            "resume_return_code": resumed.returncode, "stderr_lines_of_survivor": len(err.splitlines())}


def main() -> None:
    from progan.data import prepare

    results: dict[str, object] = {"torch": torch.__version__}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "fm"
        prepare("/usr/share/datasets/fashion-mnist", data, max_images=512, progress=False)
        results["same_snapshot"] = same = same_snapshot(data, tmp)
        print("two nodes vs one process: worst relative difference "
              f"{same['worst_relative_difference']:.1e} over "
              f"{same['tensors']} tensors, Adam steps equal: {same['adam_steps_equal']} "
              f"({same['two_nodes_s']:.0f} s vs {same['one_process_s']:.0f} s)")
        stops = []
        for how in ("sigterm-launcher", "sigkill-launcher", "sigkill-node"):
            r = stop_one_node(data, tmp / how, how)
            stops.append(r)
            print(f"{how}: other node exited {r['survivor_return_code']} after {r['stopped_after_s']:.1f} s "
                  f"with {len(r['progan_error_lines'])} progan line(s) {r['progan_error_lines']}; "
                  f"last snapshot {r['snapshot']} loads finite: {r['snapshot_loads_finite']}; "
                  f"resume exit {r['resume_return_code']}")
        results["stop_one_node"] = stops
    (HERE / "results").mkdir(exist_ok=True)
    out = HERE / "results" / "two-nodes.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
