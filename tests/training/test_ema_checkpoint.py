"""EMA arithmetic and the checkpoint file format (atomic, truncation and foreign-file errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from progan.errors import CheckpointError
from progan.training import checkpoint as ck
from progan.training.ema import update_ema
from progan.training.snapshots import latest_checkpoint, list_snapshots, snapshot_name


def test_ema_is_the_exponential_average() -> None:
    ema, model = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = [p.detach().clone() for p in ema.parameters()]
    update_ema(ema, model, 0.9)
    for e, b, m in zip(ema.parameters(), before, model.parameters()):
        torch.testing.assert_close(e, 0.9 * b + 0.1 * m)
    update_ema(ema, model, 0.0)  # beta 0 copies (before BigGAN's EMA start)
    for e, m in zip(ema.parameters(), model.parameters()):
        assert torch.equal(e, m)


def _save(path: Path) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.0, 0.99))
    net(torch.randn(8, 4)).square().mean().backward()
    opt.step()
    ck.save_checkpoint(path, modules={"G": net}, optimizers={"G": opt},
                       rng={"torch_cpu": torch.get_rng_state()}, config={"hello": 1},
                       progress={"kimg": 1.5, "lod": 0.0}, extra={"loader": {"cursor": 7}})
    return net, opt


def test_checkpoint_round_trip_restores_weights_and_adam_state(tmp_path: Path) -> None:
    path = tmp_path / snapshot_name(1500)
    net, opt = _save(path)
    assert path.name == "network-snapshot-000001.safetensors"
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"
    c = ck.read_checkpoint(path)
    assert c.config == {"hello": 1} and c.progress["kimg"] == 1.5 and c.extra["loader"] == {"cursor": 7}
    net2 = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    net2.load_state_dict(c.module_state("G"))
    opt2 = torch.optim.Adam(net2.parameters(), lr=5.0)
    ck.restore_optimizer(opt2, c, "G")
    for a, b in zip(net.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s2["param_groups"][0]["lr"] == 1e-3 and s2["param_groups"][0]["betas"] == (0.0, 0.99)
    for idx in s1["state"]:
        for key in s1["state"][idx]:
            assert torch.equal(s1["state"][idx][key], s2["state"][idx][key])


def test_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "network-snapshot-000001.safetensors"
    _save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or not a checkpoint"):
        ck.read_checkpoint(path)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="truncated or not a checkpoint"):
        ck.read_checkpoint(path)


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(2)}, str(path), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a progan checkpoint"):
        ck.read_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        ck.read_checkpoint(tmp_path / "missing.safetensors")


def test_latest_checkpoint_looks_into_run_folders(tmp_path: Path) -> None:
    import os

    (tmp_path / "00000-a").mkdir()
    (tmp_path / "00001-b").mkdir()
    old = tmp_path / "00000-a" / "network-snapshot-000009.safetensors"
    new = tmp_path / "00001-b" / "network-snapshot-000001.safetensors"
    _save(old)
    _save(new)
    os.utime(old, (1, 1))
    assert latest_checkpoint(tmp_path) == new
    assert list_snapshots(tmp_path / "00000-a") == [old]
    assert json.loads(json.dumps(ck.read_checkpoint(tmp_path).progress)) == {"kimg": 1.5, "lod": 0.0}


def test_snapshot_written_before_fused_scale_keeps_its_discriminator_order(tmp_path: Path) -> None:
    # Before network.fused_scale existed, D pooled after its bias and activation (fused_scale=False);
    # a snapshot without the field must load that way, while one with the field keeps its value.
    for stored, expected in ((None, False), (True, True), (False, False)):
        net = {"resolution": 8} if stored is None else {"resolution": 8, "fused_scale": stored}
        path = tmp_path / f"network-snapshot-{expected:d}{stored}.safetensors"
        ck.save_checkpoint(path, modules={}, optimizers={}, rng={}, config={"network": net}, progress={})
        assert ck.read_checkpoint(path).config["network"]["fused_scale"] is expected
