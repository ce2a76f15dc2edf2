"""``progan import`` and ``--network FILE.pkl``: snapshots usable by every command, one-line refusals
(exit 2) for pickles that would run code, are damaged, or describe networks progan cannot build."""

from __future__ import annotations

import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from biggan_threads import one_thread  # noqa: F401  (autouse: one torch thread for these tiny networks)

import progan
from progan.cli import main
from progan.errors import UserError
from progan.importers import read_pickle
from progan.importers._unpickle import load_networks
from progan.training.checkpoint import read_checkpoint

GOLDEN = Path(__file__).parent / "golden"


def fails(argv: list[str], capsys: pytest.CaptureFixture[str], match: str) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert match in err, err
    return err


def release_states(name: str) -> list[dict[str, Any]]:
    """The (G, D, Gs) states of a golden pickle, arrays as NumPy arrays."""
    return [net.state for net in load_networks((GOLDEN / f"{name}.pkl").read_bytes())]


def write_release_pickle(path: Path, states: list[Any], protocol: int = 4, module: str = "tfutil") -> Path:
    """Pickle states as the release's tfutil.Network (NEWOBJ + BUILD), with this NumPy's array format."""
    class Network:
        def __init__(self, state: Any) -> None:
            self._state = state

        def __getstate__(self) -> Any:
            return self._state

    Network.__module__, Network.__qualname__ = module, "Network"
    fake = types.ModuleType(module)
    fake.Network = Network  # type: ignore[attr-defined]
    saved = sys.modules.get(module)
    sys.modules[module] = fake
    try:
        path.write_bytes(pickle.dumps(tuple(Network(s) for s in states), protocol=protocol))
    finally:
        if saved is None:
            del sys.modules[module]
        else:
            sys.modules[module] = saved
    return path


class RunsCode:
    """A pickle payload: unpickling it the ordinary way creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def test_import_writes_a_snapshot_that_loads_as_the_release_network(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cond.safetensors"
    main(["import", str(GOLDEN / "cond32_nonfused.pkl"), str(out)])
    assert f"wrote {out}" in capsys.readouterr().out
    ckpt = read_checkpoint(out)
    assert {k.split(".")[0] for k in ckpt.tensors} == {"G", "D", "G_ema"}
    assert ckpt.config["network"]["fused_scale"] is False and ckpt.config["network"]["num_classes"] == 5
    assert ckpt.extra["imported_from"]["format"] == "tf-release"
    assert len(ckpt.extra["imported_from"]["sha256"]) == 64
    # The pickle was saved at lod 1: the snapshot's generator works there, like the release's Gs.run.
    z = np.load(GOLDEN / "cond32_nonfused.npz")
    G = progan.load_generator(str(out))
    assert G.lod == 1.0 and G.output_resolution == 16
    with torch.no_grad():
        images = G(torch.from_numpy(z["latents"]), torch.from_numpy(z["labels"]))
    np.testing.assert_allclose(images.numpy(), z["gs_images_lod1"],
                               atol=1e-4 * np.abs(z["gs_images_lod1"]).max())
    fails(["import", str(GOLDEN / "cond32_nonfused.pkl"), str(out)], capsys, "exists; pass --force")
    main(["import", str(GOLDEN / "cond32_nonfused.pkl"), str(out), "--force"])
    main(["import", str(GOLDEN / "theano16.pkl"), str(tmp_path / "t.safetensors")])
    assert read_checkpoint(tmp_path / "t.safetensors").extra["imported_from"]["format"] == "theano-release"


def test_import_default_output_is_beside_the_pickle(tmp_path: Path) -> None:
    pkl = tmp_path / "karras2018iclr-test.pkl"
    pkl.write_bytes((GOLDEN / "uncond32_fused.pkl").read_bytes())
    main(["import", str(pkl)])
    assert (tmp_path / "karras2018iclr-test.safetensors").is_file()


def test_generate_takes_the_pickle_directly(tmp_path: Path) -> None:
    snap = tmp_path / "u.safetensors"
    main(["import", str(GOLDEN / "uncond32_fused.pkl"), str(snap)])
    for network, folder in ((GOLDEN / "uncond32_fused.pkl", "from_pkl"), (snap, "from_snapshot")):
        main(["generate", "--network", str(network), "--seeds", "0-2", "--outdir", str(tmp_path / folder),
              "--device", "cpu"])
    pngs = sorted(p.name for p in (tmp_path / "from_pkl").glob("*.png"))
    assert len(pngs) == 3
    for name in pngs:  # the .pkl converted in memory gives the imported snapshot's images, byte for byte
        assert (tmp_path / "from_pkl" / name).read_bytes() == (tmp_path / "from_snapshot" / name).read_bytes()
    G, G_inst = progan.load_generator(str(GOLDEN / "uncond32_fused.pkl")), \
        progan.load_generator(str(GOLDEN / "uncond32_fused.pkl"), ema=False)
    z = torch.randn(2, G.z_dim)
    assert G(z).shape == (2, 3, 32, 32) and not torch.allclose(G(z), G_inst(z))


def test_resume_from_an_import_is_a_one_line_error(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    snap = tmp_path / "network-snapshot-000000.safetensors"
    main(["import", str(GOLDEN / "uncond32_fused.pkl"), str(snap)])
    fails(["train", "--resume", str(snap), "--dry-run"], capsys, "made by `progan import`")
    fails(["train", "--resume", str(GOLDEN / "uncond32_fused.pkl"), "--dry-run"], capsys,
          "is a network pickle")


def test_code_in_a_pickle_never_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(RunsCode(marker)))
    pickle.loads(evil.read_bytes())  # control: the ordinary unpickler runs the payload
    assert marker.exists()
    marker.unlink()
    fails(["import", str(evil), str(tmp_path / "o.safetensors")], capsys, "names builtins.exec")
    fails(["generate", "--network", str(evil), "--seeds", "0", "--outdir", str(tmp_path / "g")], capsys,
          "builtins.exec")
    # Hidden among real weights, as a variable's value.
    states = release_states("uncond32_fused")
    states[2]["variables"] = [*states[2]["variables"], ("extra", RunsCode(marker))]
    hidden = write_release_pickle(tmp_path / "hidden.pkl", states)
    fails(["import", str(hidden), str(tmp_path / "o.safetensors")], capsys, "builtins.exec")
    assert not marker.exists() and not (tmp_path / "o.safetensors").exists()


def test_pickled_network_source_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "source-ran"
    states = release_states("uncond32_fused")
    for s in states:
        s["build_module_src"] = f"open({str(marker)!r}, 'w').close()\ndef G_paper(*a, **k): pass\n"
    imported = read_pickle(write_release_pickle(tmp_path / "src.pkl", states))
    assert imported.config.resolution == 32 and not marker.exists()


@pytest.mark.parametrize("content, match", [
    (pickle.dumps(OrderedDict(a=1)), "names collections.OrderedDict"),
    (pickle.dumps((1, 2, 3)), "does not hold the three networks"),
    (b"", "not a pickle (protocol 2 to 5), or it is truncated"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "not a pickle"),
    # protocol 0: never the releases
    (pickle.dumps(RunsCode(Path("x")), protocol=0), "not a pickle"),
    # BUILD on a stand-in
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n}b.", "tries to modify a function"),
    (b"\x80\x02cnumpy\ndtype\nX\x01\x00\x00\x00O\x85R.", "not a plain numeric type"),  # object arrays
])
def test_foreign_or_malformed_pickles_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  content: bytes, match: str) -> None:
    path = tmp_path / "bad.pkl"
    path.write_bytes(content)
    fails(["import", str(path), str(tmp_path / "o.safetensors")], capsys, match)


@pytest.mark.parametrize("name", ["uncond32_fused", "theano16"])
def test_truncated_pickle_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    data = (GOLDEN / f"{name}.pkl").read_bytes()
    for cut in (len(data) // 2, len(data) - 1, 20, 1):
        path = tmp_path / f"cut{cut}.pkl"
        path.write_bytes(data[:cut])
        fails(["import", str(path), str(tmp_path / "o.safetensors")], capsys, "truncated")


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_pickles_written_by_numpy_2_read_the_same(tmp_path: Path, protocol: int) -> None:
    # numpy 2 names numpy._core.*; protocol 2 stores bytes via _codecs.encode, protocol 5 uses _frombuffer.
    reference = read_pickle(GOLDEN / "uncond32_fused.pkl")
    path = write_release_pickle(tmp_path / "np2.pkl", release_states("uncond32_fused"), protocol=protocol)
    assert b"numpy._core" in path.read_bytes()
    again = read_pickle(path)
    assert again.config == reference.config
    for net in ("G", "D", "G_ema"):
        for key, value in reference.states[net].items():
            assert torch.equal(again.states[net][key], value), key


def test_keywords_the_release_ignores_in_real_pickles_are_accepted(tmp_path: Path) -> None:
    # legacy.py writes mbstd_group_size=16 into G's keywords too (G_paper ignores it); D's value counts.
    states = _set(release_states("cond32_nonfused"), (0, 2), mbstd_group_size=16)
    imported = read_pickle(write_release_pickle(tmp_path / "legacy-style.pkl", states))
    assert imported.config.mbstd_group_size == 4


def _set(states: list[dict[str, Any]], which: tuple[int, ...], **kwargs: Any) -> list[dict[str, Any]]:
    for i in which:
        states[i]["static_kwargs"] = {**states[i]["static_kwargs"], **kwargs}
    return states


@pytest.mark.parametrize("edit, match", [
    (lambda s: _set(s, (0, 2), use_leakyrelu=False), "use_leakyrelu=False"),
    (lambda s: _set(s, (0, 2), pixelnorm_epsilon=1e-4), "pixelnorm_epsilon=0.0001"),
    (lambda s: _set(s, (0, 2), use_noise=True), "use_noise=True"),
    (lambda s: _set(s, (1,), fmap_base=64), "fmap_base"),
    (lambda s: _set(s, (0, 2), use_wscale=False), "use_wscale"),
    (lambda s: _set(s, (0, 1, 2), resolution=64), "G has no variable '64x64/Conv0/weight'"),
    (lambda s: _set(s, (0, 1, 2), resolution=2048), "resolution must be a power of two in 4..1024"),
    (lambda s: _set(s, (1,), mbstd_group_size="all"), "mbstd_group_size='all'"),
    (lambda s: [s[0], {**s[1], "build_func_name": "D_custom"}, s[2]], "D_custom"),
    (lambda s: [s[0], s[1], {**s[2], "version": 3}], "version 3"),
    (lambda s: [s[0], s[1], {**s[2], "variables": [*s[2]["variables"], ("64x64/Conv0/weight", np.zeros(3))]}],
     "no place for: 64x64/Conv0/weight"),
    (lambda s: [s[0], s[1], {**s[2], "variables": [(n, v[:1] if n == "4x4/Conv/bias" else v)
                                                   for n, v in s[2]["variables"]]}],
     "'4x4/Conv/bias' has shape"),
])
def test_settings_progan_cannot_express_are_one_line_errors(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            edit: Any, match: str) -> None:
    path = write_release_pickle(tmp_path / "edited.pkl", edit(release_states("cond32_nonfused")))
    fails(["import", str(path), str(tmp_path / "o.safetensors")], capsys, match)


def test_theano_settings_legacy_py_does_not_convert_are_refused(tmp_path: Path) -> None:
    class TheanoNetwork:  # pickled under the Theano release's name network.Network
        def __init__(self, state: Any) -> None:
            self._state = state

        def __getstate__(self) -> Any:
            return self._state

    states = [net.state for net in load_networks((GOLDEN / "theano16.pkl").read_bytes())]
    states[1]["build_func_spec"] = {**states[1]["build_func_spec"], "mbstat_avg": "spatial"}
    TheanoNetwork.__module__, TheanoNetwork.__qualname__ = "network", "Network"
    fake = types.ModuleType("network")
    fake.Network = TheanoNetwork  # type: ignore[attr-defined]
    sys.modules["network"] = fake
    try:
        data = pickle.dumps(tuple(TheanoNetwork(s) for s in states), protocol=2)
    finally:
        del sys.modules["network"]
    (tmp_path / "t.pkl").write_bytes(data)
    with pytest.raises(UserError, match="mbstat_avg='spatial'"):
        read_pickle(tmp_path / "t.pkl")
