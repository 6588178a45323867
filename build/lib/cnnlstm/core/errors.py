"""Errors a user can act on.

Anything raised as `UserInputError` is printed by the command line as one readable message,
never as a traceback from deep inside a library. Raise it (or a subclass) wherever bad input
is detected: missing columns, unreadable files, invalid rows, non-overlapping benchmarks.
"""

from __future__ import annotations


class UserInputError(ValueError):
    """Input the user gave cannot be used; the message says what is wrong and where."""


class DataValidationError(UserInputError):
    """A table failed its schema; `report` holds the readable summary, `failures` the details."""

    def __init__(self, message: str, failures=None):
        super().__init__(message)
        self.failures = failures
