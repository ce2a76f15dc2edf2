"""One torch thread for the biggan tests (imported by them; a uniquely named module, not a conftest)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    # Layers this small gain nothing from a second thread and lose a lot when other jobs share the CPU.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
