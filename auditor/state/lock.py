"""One audit at a time per store: a file lock next to a SQLite database, a session advisory lock
on PostgreSQL. Both are released by the operating system / the server when the process dies."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from auditor.state.errors import LockBusy, StoreError
from auditor.state.migrate import LOCK_CLASS_AUDIT

_POLL_FIRST = 0.02
_POLL_MAX = 0.25


def _busy(where: str, waited: float | None) -> LockBusy:
    how = "" if waited is None else f" (waited {waited:.1f} s)"
    return LockBusy(
        f"another audit holds the lock of the state store {where}{how}; try again later"
    )


def _poll(try_once: Callable[[], bool], wait: bool, timeout: float | None, where: str) -> None:
    """Call ``try_once`` until it succeeds, or raise LockBusy (no wait / timeout reached)."""
    if try_once():
        return
    if not wait:
        raise _busy(where, None)
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = _POLL_FIRST
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _busy(where, timeout)
            time.sleep(min(delay, left))
        else:
            time.sleep(delay)
        if try_once():
            return
        delay = min(delay * 2, _POLL_MAX)


class AuditLock:
    """Re-entrant within one Store object; exclusive across objects, threads and processes."""

    def __init__(self, acquire: Callable[[bool, float | None], None], release: Callable[[], None]):
        self._acquire = acquire
        self._release = release
        self._thread_lock = threading.RLock()
        self._depth = 0

    @property
    def held(self) -> bool:
        return self._depth > 0

    def acquire(self, wait: bool, timeout: float | None) -> bool:
        """Take the lock; True when this call took it (False: already held by this object)."""
        started = time.monotonic()
        if not wait:
            ok = self._thread_lock.acquire(blocking=False)
        else:
            ok = self._thread_lock.acquire(timeout=-1 if timeout is None else timeout)
        if not ok:
            raise LockBusy("another audit in this process holds the lock of the state store")
        try:
            outermost = self._depth == 0
            if outermost:
                left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
                self._acquire(wait, left)
            self._depth += 1
        except BaseException:
            self._thread_lock.release()
            raise
        return outermost

    def release(self) -> None:
        try:
            self._depth -= 1
            if self._depth == 0:
                self._release()
        finally:
            self._thread_lock.release()


def file_lock(path: Path, where: str) -> AuditLock:
    """flock(2) on ``<db>.lock``: exclusive between processes and between separate opens."""
    state: dict[str, int] = {}

    def acquire(wait: bool, timeout: float | None) -> None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"state: cannot open the lock file {path}: {exc.strerror}") from None

        def try_once() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        try:
            _poll(try_once, wait, timeout, where)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        state["fd"] = fd

    def release() -> None:
        fd = state.pop("fd", None)
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    return AuditLock(acquire, release)


def advisory_lock(engine: Engine, where: str) -> AuditLock:
    """pg_advisory_lock on a dedicated session, keyed by the store's schema."""
    state: dict[str, Connection] = {}
    sql_try = sa.text("SELECT pg_try_advisory_lock(:k, hashtext(current_schema()))")
    sql_unlock = sa.text("SELECT pg_advisory_unlock(:k, hashtext(current_schema()))")

    def acquire(wait: bool, timeout: float | None) -> None:
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")

        def try_once() -> bool:
            return bool(conn.execute(sql_try, {"k": LOCK_CLASS_AUDIT}).scalar())

        try:
            _poll(try_once, wait, timeout, where)
        except BaseException:
            conn.close()
            raise
        state["conn"] = conn

    def release() -> None:
        conn = state.pop("conn", None)
        if conn is None:
            return
        try:
            conn.execute(sql_unlock, {"k": LOCK_CLASS_AUDIT})
        except sa.exc.DBAPIError:
            conn.invalidate()  # the session ends, and the server drops its locks with it
        finally:
            conn.close()

    return AuditLock(acquire, release)
