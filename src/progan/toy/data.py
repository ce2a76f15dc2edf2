"""The numbers a toy GAN learns from: read from a file or drawn from a normal distribution."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from progan.errors import DataError, UserError

__all__ = ["check_numbers", "draw_numbers", "parse_numbers", "read_numbers"]

# Newlines, commas and blanks separate numbers; any other character is part of a (bad) token.
_SEPARATORS = re.compile(r"[,\s]+")


def parse_numbers(text: str, *, source: str = "input") -> np.ndarray:
    """Parse numbers written one per line or separated by commas/spaces; errors name the line."""
    values: list[float] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        for token in _SEPARATORS.split(line.strip()):
            if not token:
                continue
            try:
                value = float(token)
            except ValueError:
                raise DataError(
                    f"{source}, line {line_no}: {token[:40]!r} is not a number "
                    "(write numbers one per line or separated by commas or spaces)"
                ) from None
            if not math.isfinite(value):
                raise DataError(f"{source}, line {line_no}: {token!r} is not a finite number")
            values.append(value)
    return check_numbers(np.asarray(values, dtype=np.float64), source=source)


def read_numbers(path: str | Path) -> np.ndarray:
    """Read a text file of numbers (see :func:`parse_numbers`)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a text file of numbers") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file; expected numbers one per line") from None
    return parse_numbers(text, source=str(path))


def check_numbers(values: np.ndarray, *, source: str = "input") -> np.ndarray:
    """Reject data a GAN cannot learn from: fewer than two values, non-finite values, or no spread."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size < 2:
        raise DataError(f"{source}: found {values.size} number(s), need at least 2 to learn a distribution")
    if not np.all(np.isfinite(values)):
        raise DataError(f"{source}: contains non-finite values (nan or inf)")
    if float(values.std()) == 0.0:
        raise DataError(f"{source}: all {values.size} numbers equal {values[0]:g}; "
                        "a distribution needs spread")
    return values


def draw_numbers(mean: float, std: float, count: int, seed: int = 0) -> np.ndarray:
    """Draw ``count`` numbers from N(mean, std^2) with numpy's PCG64 seeded by ``seed``."""
    if not (math.isfinite(mean) and math.isfinite(std)):
        raise UserError(f"mean and std must be finite, got mean={mean}, std={std}")
    if std <= 0:
        raise UserError(f"std must be > 0, got {std}")
    if count < 2:
        raise UserError(f"count must be >= 2, got {count}")
    return np.random.default_rng(seed).normal(mean, std, size=count)
