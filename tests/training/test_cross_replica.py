"""BigGAN over 2 gloo processes with cross-replica BN trains like one process with the whole batch (weights,
BN running statistics, spectral-norm vectors); per-rank BN does not. Cross-replica BN against
torch's own batch norm on the concatenated batch; gradient sync of partially present gradients."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from safetensors.torch import load_file
from test_distributed import _torchrun_two_ranks

from progan.nn.crossreplica import CrossReplicaBatchNorm2d
from progan.training.distributed import World

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_rank_states(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("bn")
    script = _torchrun_two_ranks("bn_worker.py", str(out), check=True)
    spec = importlib.util.spec_from_file_location("bn_worker", script)
    assert spec is not None and spec.loader is not None
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    torch.set_num_threads(1)
    single = worker.train_state(World(), cross_replica=True)  # one process: nothing to synchronise
    return out, single


def _worst(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> tuple[float, str]:
    """Largest difference relative to each tensor's largest magnitude (at least 0.1: the biases that start at
    zero stay near it), and where."""
    assert sorted(a) == sorted(b)
    return max(((a[k].float() - b[k].float()).abs().max().item()
                / max(a[k].float().abs().max().item(), 0.1), k)
               for k in a if not k.endswith("num_batches_tracked"))


def test_two_processes_with_cross_replica_bn_train_like_one(two_rank_states) -> None:
    out, single = two_rank_states
    got = load_file(str(out / "cross-replica.safetensors"))
    assert any(".bn.running_var" in k for k in got) and any("_u" in k for k in got)
    worst, where = _worst(single, got)
    assert worst < 1e-4, (worst, where)  # measured: 5e-6 after 3 D and G steps


def test_per_rank_bn_is_not_equivalent(two_rank_states) -> None:
    """The control: without cross-replica statistics the same runs differ far beyond rounding."""
    out, single = two_rank_states
    worst, _ = _worst(single, load_file(str(out / "per-rank.safetensors")))
    assert worst > 1e-2, worst


def test_sync_grads_reduces_what_some_rank_has_and_leaves_none_where_no_rank_has(two_rank_states) -> None:
    out, _ = two_rank_states
    for rank in (0, 1):
        got = json.loads((out / f"partial-{rank}.json").read_text())
        assert got == {"a": [2.0, 2.0, 2.0], "b": None}, (rank, got)  # (4 + 0) / 2; b stays None


def test_cross_replica_bn_in_one_process_is_torch_batch_norm() -> None:
    torch.manual_seed(0)
    bn, ref = CrossReplicaBatchNorm2d(5), torch.nn.BatchNorm2d(5)
    ref.load_state_dict(bn.state_dict())
    x = torch.randn(6, 5, 3, 3) * 3 + 1
    bn.cross_replica = True  # no process group: plain batch norm
    torch.testing.assert_close(bn(x), ref(x))
    torch.testing.assert_close(bn.running_var, ref.running_var)
