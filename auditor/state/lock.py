"""The locks of a store: a file lock next to a SQLite database, a session advisory lock on
PostgreSQL. Both are released by the operating system / the server when the process dies.

A lock is taken in exclusive or in shared mode. Each outermost hold is its own OS-level hold (its
own open of the lock file, its own database session), so threads, Store objects and processes
exclude each other alike; within one thread a lock is re-entrant.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from auditor.state.errors import LockBusy, StoreError

_POLL_FIRST = 0.02
_POLL_MAX = 0.25

# take(shared, wait, timeout) -> release; raises LockBusy when not taken.
Take = Callable[[bool, bool, float | None], Callable[[], None]]


def _poll(try_once: Callable[[], bool], wait: bool, timeout: float | None, busy: str) -> None:
    """Call ``try_once`` until it succeeds, or raise LockBusy (no wait / timeout reached).

    Every attempt is non-blocking (no lock queue): waiting for locks can never deadlock."""
    if try_once():
        return
    if not wait:
        raise LockBusy(f"{busy}; try again later")
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = _POLL_FIRST
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LockBusy(f"{busy} (waited {timeout:.1f} s); try again later")
            time.sleep(min(delay, left))
        else:
            time.sleep(delay)
        if try_once():
            return
        delay = min(delay * 2, _POLL_MAX)


class AuditLock:
    """One lock of a store, re-entrant per thread; exclusive (or shared) across threads, Store
    objects and processes."""

    def __init__(self, take: Take) -> None:
        self._take = take
        self._local = threading.local()

    @property
    def held(self) -> bool:
        """True while the calling thread holds it (in either mode)."""
        return int(getattr(self._local, "depth", 0)) > 0

    def acquire(self, wait: bool, timeout: float | None, *, shared: bool = False) -> bool:
        """Take the lock; True when this call took it (False: this thread already holds it).

        A thread holding the lock shared cannot take it exclusive (StoreError): an upgrade could
        deadlock with another shared holder doing the same."""
        local = self._local
        depth = int(getattr(local, "depth", 0))
        if depth:
            if local.shared and not shared:
                raise StoreError(
                    "state: cannot take the audit lock of the whole store while this thread "
                    "holds it shared (for one shard)"
                )
            local.depth = depth + 1
            return False
        local.release = self._take(shared, wait, timeout)
        local.shared = shared
        local.depth = 1
        return True

    def release(self) -> None:
        local = self._local
        local.depth -= 1
        if local.depth == 0:
            release, local.release = local.release, None
            release()


def file_lock(path: Path, busy: str) -> AuditLock:
    """flock(2) on ``path``: each hold opens the file anew (flock locks belong to the open file,
    so two opens in one process exclude each other like two processes)."""

    def take(shared: bool, wait: bool, timeout: float | None) -> Callable[[], None]:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"state: cannot open the lock file {path}: {exc.strerror}") from None
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX

        def try_once() -> bool:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        try:
            _poll(try_once, wait, timeout, busy)
            if not shared:  # for a human looking at the file: who holds it
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:
            os.close(fd)
            raise

        def release() -> None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

        return release

    return AuditLock(take)


def advisory_lock(engine: Engine, lock_class: int, name: str, busy: str) -> AuditLock:
    """pg_advisory_lock(lock_class, hashtext(current_schema() || name)) on a session of its own
    (``name`` "" is the schema's hash alone)."""
    key = "(:c, hashtext(current_schema() || :n))"
    sql_try = {
        False: sa.text(f"SELECT pg_try_advisory_lock{key}"),
        True: sa.text(f"SELECT pg_try_advisory_lock_shared{key}"),
    }
    sql_unlock = {
        False: sa.text(f"SELECT pg_advisory_unlock{key}"),
        True: sa.text(f"SELECT pg_advisory_unlock_shared{key}"),
    }
    params = {"c": lock_class, "n": name}

    def take(shared: bool, wait: bool, timeout: float | None) -> Callable[[], None]:
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")

        def try_once() -> bool:
            return bool(conn.execute(sql_try[shared], params).scalar())

        try:
            _poll(try_once, wait, timeout, busy)
        except BaseException:
            conn.close()
            raise

        def release() -> None:
            try:
                conn.execute(sql_unlock[shared], params)
            except sa.exc.DBAPIError:
                conn.invalidate()  # the session ends, and the server drops its locks with it
            finally:
                conn.close()

        return release

    return AuditLock(take)
