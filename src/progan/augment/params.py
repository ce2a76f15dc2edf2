"""Per-image augmentation parameters drawn for a batch, sliceable like the batch."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self needs Python 3.11


class Params:
    """Base of the parameter dataclasses: every field is a tensor whose first dimension is the batch."""

    def __getitem__(self, rows: slice | Any) -> Self:
        """The parameters of ``rows`` of the batch (a slice or an index tensor)."""
        assert dataclasses.is_dataclass(self)
        return type(self)(**{f.name: getattr(self, f.name)[rows] for f in dataclasses.fields(self)})

    def __len__(self) -> int:
        assert dataclasses.is_dataclass(self)
        return int(getattr(self, dataclasses.fields(self)[0].name).shape[0])
