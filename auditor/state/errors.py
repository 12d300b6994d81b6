"""Errors of the state store. Messages never carry a database password."""

from __future__ import annotations


class StoreError(Exception):
    """The state store cannot be opened, upgraded, read or written (one clear line)."""


class LockBusy(StoreError):
    """Another audit holds the store's audit lock."""


class RunExists(StoreError):
    """A run with this id is already stored (two audits started in the same second)."""


class RunNotFound(StoreError, KeyError):
    """No stored run has the requested id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "run not found"


class OutputsNotWritten(StoreError):
    """The run's outputs (the reports folder) could not be written: the run is recorded as
    "failed" with no results, or nothing was audited. Exit 3, like a store that cannot be used:
    the results are not kept."""
