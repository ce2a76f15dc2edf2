"""What ties one sample's train-mode result to the rest of its batch, declared by each network in one place.

Splitting a batch over processes or micro-batches, or fusing D's real and fake calls, is equivalent to
one call on the whole batch only for what a network does per sample. Three things are not:

- batch normalisation (BigGAN's conditional BN in G): statistics over the batch it is called with;
- spectral normalisation (Miyato et al. 2018): a power iteration per train-mode call, state that advances
  with the number of calls (the training steps hold it to one per step, see :mod:`progan.nn.spectral`);
- the minibatch-stddev layer of ProGAN's D (Karras et al. 2018, Sec. 3): statistics over groups of
  consecutive samples, equivalent only while the groups are whole in every call.

Every network built by :mod:`progan.networks` has a ``batch_coupling`` property saying which of these it
has; the training steps, the launcher's equivalence check and the README read it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class BatchCoupling:
    """The batch-coupled layers of one network."""

    batch_norm: bool = False        # BN statistics over the call's batch (train mode)
    spectral_norm: bool = False     # SN power iterations (state advanced by train-mode calls)
    mbstd_group: int = 0            # minibatch-stddev group size; 0 when the network has no such layer

    def mbstd_fits(self, n: int) -> bool:
        """Whether a call on ``n`` samples holds whole minibatch-stddev groups (always, without the layer)."""
        return self.mbstd_group <= 1 or (n >= self.mbstd_group and n % self.mbstd_group == 0)


UNKNOWN = BatchCoupling(batch_norm=True, spectral_norm=True, mbstd_group=0)
"""Assumed for a module that does not declare its coupling: nothing may be fused or split."""


@runtime_checkable
class BatchCoupled(Protocol):
    """A network that declares its batch coupling."""

    @property
    def batch_coupling(self) -> BatchCoupling: ...


def coupling_of(net: object) -> BatchCoupling:
    """``net.batch_coupling``, or :data:`UNKNOWN` for a module that does not declare one."""
    return net.batch_coupling if isinstance(net, BatchCoupled) else UNKNOWN
