"""One-line warnings from the trainer: on stderr and in the run's ``log.txt``, from rank 0 only."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("progan.train")


def warn_line(line: str, *, main: bool = True) -> None:
    """Print ``line`` once (nothing on ranks other than 0: pass ``main=world.is_main``)."""
    if not main:
        return
    if log.handlers:  # the run's log.txt; without a handler, logging itself would print it a second time
        log.warning(line)
    print(line, file=sys.stderr, flush=True)
