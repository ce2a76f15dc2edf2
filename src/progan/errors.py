"""Errors that a user can act on.

Library code raises :class:`UserError` (or a subclass) for anything caused by the
user's input: a bad option value, a missing or foreign file, an empty data set.
The CLI turns it into one line on stderr and exit code 2; Python callers get an
ordinary exception with the same one-line message.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, described in one actionable line."""


class DataError(UserError):
    """A data source or prepared data set is missing, empty, unrecognised or corrupt."""


class CheckpointError(UserError):
    """A checkpoint is missing, truncated, or not a progan checkpoint."""
