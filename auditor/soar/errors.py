"""The errors of API calls: one line each, ``<endpoint>: <reason>``, never a credential."""

from __future__ import annotations


class SoarError(Exception):
    """A call failed; ``str(err)`` is one line: ``<endpoint>: <reason>``."""

    def __init__(self, endpoint: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{endpoint}: {reason}")
        self.endpoint = endpoint
        self.reason = reason
        self.status = status


class ShapeError(SoarError):
    """A response that does not have the shape the auditor knows (or is not JSON)."""
