"""The one place the auditor reads the time of day.

Everything that needs "now" takes a :class:`Clock` (default :data:`SYSTEM_CLOCK`), so that a test,
the simulator and the audit it serves can share one moment: a :class:`FixedClock` stands still
until it is moved with :meth:`FixedClock.advance` or :meth:`FixedClock.set`. Durations are
measured with ``time.monotonic()``, not with a clock.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "FixedClock", "SystemClock", "utc"]


@runtime_checkable
class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> datetime:
        """The current time: an aware datetime in UTC."""
        ...


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; ValueError when it is naive (a naive time has no defined instant)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a clock needs an aware datetime, not the naive {moment.isoformat()}")
    return moment.astimezone(UTC)


class SystemClock:
    """The wall clock."""

    __slots__ = ()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A clock that stands at ``at`` until moved (thread-safe), for tests and replays."""

    __slots__ = ("_at", "_lock")

    def __init__(self, at: datetime) -> None:
        self._at = utc(at)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock by ``delta`` (negative: back); returns the new time."""
        with self._lock:
            self._at += delta
            return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = utc(at)

    def __repr__(self) -> str:
        return f"FixedClock({self.now().isoformat()})"


SYSTEM_CLOCK: Clock = SystemClock()


def iso(value: datetime | None) -> str | None:
    """UTC timestamps as the outputs write them: 2026-11-26T02:00:00Z."""
    if value is None:
        return None
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")
