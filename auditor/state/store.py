"""The state store: what the pipeline, the scheduler, the notifier and `history` call."""

from __future__ import annotations

import logging
import re
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from auditor.clock import SYSTEM_CLOCK, Clock
from auditor.engine.history import TenantHistory
from auditor.result import RunPoint, RunResult
from auditor.state import outbox, queries, record, states
from auditor.state.connect import create_engine, safe_message, safe_url, sqlite_path
from auditor.state.errors import RunExists, StoreError
from auditor.state.lock import AuditLock, advisory_lock, file_lock
from auditor.state.migrate import (
    LOCK_CLASS_AUDIT,
    LOCK_CLASS_AUDIT_SCOPE,
    LOCK_CLASS_OUTBOX,
    LOCK_CLASS_RECORD,
    migrate,
)
from auditor.state.outbox import OutboxItem
from auditor.state.queries import RunSummary
from auditor.state.schema import runs
from auditor.state.states import Plan

log = logging.getLogger("auditor.state")

_SCOPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_RESERVED_SCOPES = frozenset({"outbox"})  # <db>.outbox.lock is the outbox delivery lock
_RECORD_LOCK = sa.text("SELECT pg_advisory_xact_lock(:c, hashtext(current_schema()))")


class Store:
    """Runs, per-tenant results, finding states and snapshots in SQLite or PostgreSQL.

    Thread-safe (a pool of connections); one audit at a time per store, or one per shard, with
    :meth:`audit_lock`. Its own timestamps (outbox, slot claims, schema upgrades) come from
    ``clock``; a run's times are the run's.
    """

    def __init__(self, url: URL, *, retention_days: int = 400,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        if retention_days < 1:
            raise StoreError("state: retention_days must be at least 1")
        self._url = url
        self.where = safe_url(url)
        self.retention_days = retention_days
        self.backend = url.get_backend_name()
        self.clock = clock
        self._engine: Engine = create_engine(url)
        try:
            migrate(self._engine, self.where, clock=clock)
        except StoreError:
            self._engine.dispose()
            raise
        except sa.exc.SQLAlchemyError as exc:
            self._engine.dispose()
            raise StoreError(
                f"state: cannot open the state store {self.where}: {safe_message(exc, url)}"
            ) from None
        self._lock = self._make_lock(None, LOCK_CLASS_AUDIT, "", "another audit holds the lock")
        self._outbox_lock = self._make_lock(
            "outbox", LOCK_CLASS_OUTBOX, "", "another audit is delivering the Slack outbox"
        )
        self._scope_locks: dict[str, AuditLock] = {}
        self._scope_guard = threading.Lock()

    def __repr__(self) -> str:
        return f"Store({self.where})"

    # -- plumbing ---------------------------------------------------------------------------------
    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(
                f"state: {what} failed on {self.where}: {safe_message(exc, self._url)}"
            ) from None
        except (ValueError, TypeError, KeyError, zlib.error) as exc:
            # A stored value that cannot be read (a damaged row): one line, never a traceback.
            log.debug("state: %s failed", what, exc_info=True)
            detail = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise StoreError(
                f"state: {what} failed on {self.where}: a stored value cannot be read "
                f"({detail}); the store may be damaged"
            ) from None

    @contextmanager
    def _read(self, what: str) -> Iterator[Connection]:
        with self._guard(what), self._engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        with self._guard(what), self._engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    # -- one audit at a time ---------------------------------------------------------------------
    def _make_lock(self, suffix: str | None, lock_class: int, name: str, busy: str) -> AuditLock:
        """``<db>.lock`` / ``<db>.<suffix>.lock`` for SQLite, an advisory key on PostgreSQL."""
        busy = f"{busy} of the state store {self.where}"
        if self.backend == "sqlite":
            db = sqlite_path(self._url)
            return file_lock(db.with_name(f"{db.name}.{suffix}.lock" if suffix else
                                          f"{db.name}.lock"), busy)
        return advisory_lock(self._engine, lock_class, name, busy)

    def _scope_lock(self, scope: str) -> AuditLock:
        if not _SCOPE.match(scope) or scope in _RESERVED_SCOPES:
            raise StoreError(f"state: {scope!r} is not a valid audit lock scope")
        with self._scope_guard:
            lock = self._scope_locks.get(scope)
            if lock is None:
                lock = self._scope_locks[scope] = self._make_lock(
                    scope, LOCK_CLASS_AUDIT_SCOPE, "/" + scope, f"another audit of {scope} holds "
                    "its lock"
                )
            return lock

    @contextmanager
    def audit_lock(
        self, wait: bool = True, timeout: float | None = None, *, scope: str | None = None
    ) -> Iterator[None]:
        """Hold an audit lock; LockBusy when ``wait`` is False or ``timeout`` passes.

        ``scope`` None: the whole store, exclusive: no other audit, sharded or not, runs. A scope
        (e.g. "shard0of4", the audit of one shard): the store lock *shared* plus the scope's own
        lock exclusive, so that audits of different scopes run in parallel, the same scope never
        twice, and an unsharded audit waits for every shard (and they for it). The run ids of a
        scope's audits must end with ``-<scope>``.

        On taking the lock (outermost, per thread), runs left "running" by a process that died
        are marked "interrupted": every one for the whole store, the scope's own for a scope.
        Re-entrant per thread and per scope; a thread holding a scope cannot take the whole
        store (StoreError).
        """
        if scope is None:
            steps = [(self._lock, False)]
        else:
            steps = [(self._lock, True), (self._scope_lock(scope), False)]
        deadline = None if timeout is None else time.monotonic() + timeout
        with ExitStack() as held:  # released in reverse order, each one even if another fails
            outermost = False
            for lock, shared in steps:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                with self._guard("taking the audit lock"):
                    outermost = lock.acquire(wait, left, shared=shared)
                held.callback(self._release, lock)
            if outermost:
                self._mark_interrupted(scope)
            yield

    def _release(self, lock: AuditLock) -> None:
        with self._guard("releasing the audit lock"):
            lock.release()

    @property
    def holds_lock(self) -> bool:
        """True while the calling thread holds the store's audit lock (whole or for a scope)."""
        return self._lock.held

    def _mark_interrupted(self, scope: str | None) -> None:
        where = runs.c.status == "running"
        if scope is not None:
            where = where & runs.c.id.endswith(f"-{scope}", autoescape=True)
        with self._write("marking interrupted runs") as conn:
            res = conn.execute(sa.update(runs).where(where).values(status="interrupted"))
        if res.rowcount:
            log.warning("state: %d earlier run(s)%s did not finish; marked interrupted",
                        res.rowcount, "" if scope is None else f" of {scope}")

    def interrupt_run(self, run_id: str) -> bool:
        """Mark this process's own run ``run_id`` "interrupted" at once (a command that was told
        to stop), if it is still "running"; True when it was. Needs no audit lock."""
        where = (runs.c.id == run_id) & (runs.c.status == "running")
        with self._write(f"marking run {run_id} interrupted") as conn:
            res = conn.execute(sa.update(runs).where(where).values(status="interrupted"))
        return bool(res.rowcount)

    @contextmanager
    def outbox_delivery(self) -> Iterator[None]:
        """Held while the outbox is read and delivered: one deliverer at a time per store (the
        audits of parallel shards each deliver), so that no alert is sent twice. Waits."""
        with self._guard("taking the outbox lock"):
            self._outbox_lock.acquire(True, None)
        try:
            yield
        finally:
            self._release(self._outbox_lock)

    # -- the pipeline -----------------------------------------------------------------------------
    def tenant_history(self, tenant: str) -> TenantHistory:
        """What the rules need of the tenant's earlier complete audits (empty when none)."""
        with self._read(f"reading the history of tenant {tenant!r}") as conn:
            return queries.tenant_history(conn, tenant)

    def begin_run(self, run_id: str, started_at: datetime, tool_version: str = "") -> None:
        """Optional: show the run as "running" until record_run (a run that dies stays visible,
        and is marked "interrupted" by the next audit)."""
        with self._write("starting the run") as conn:
            status = conn.execute(sa.select(runs.c.status).where(runs.c.id == run_id)).scalar()
            if status is not None:
                raise RunExists(f"state: run {run_id} is already stored ({status})")
            conn.execute(
                sa.insert(runs).values(
                    id=run_id,
                    started_at=started_at,
                    status="running",
                    tool_version=tool_version,
                    failing=0,
                    unknown=0,
                    muted=0,
                    new=0,
                    resolved=0,
                    by_severity="{}",
                )
            )

    def plan_run(self, result: RunResult) -> Plan:
        """What :meth:`record_run` will store, without storing it: ``plan.result`` is a new
        RunResult, each finding with its lifecycle and first_seen, the resolved ones added, in
        the document order, its summary counted (``result`` is not changed), so that the outputs
        can be written from it before the run is recorded. Hand ``plan.result`` and the plan to
        record_run, under the same audit lock."""
        with self._read(f"reading the finding states of run {result.run_id}") as conn:
            return states.plan_lifecycle(conn, result)

    def record_run(self, result: RunResult, plan: Plan | None = None) -> None:
        """Store the run: all of it in one transaction (a killed process leaves no half run).
        With ``plan`` (from :meth:`plan_run`): ``result`` is ``plan.result`` (or a copy of it
        with other notes), stored exactly as given. Without: lifecycle and first_seen of each
        finding are set in place and the resolved ones appended first (direct callers)."""
        with self._write(f"recording run {result.run_id}") as conn:
            # One run written at a time, as SQLite's BEGIN IMMEDIATE does: the retention pruning
            # of parallel shards touches rows of every tenant, and must never deadlock.
            if self.backend == "postgresql":
                conn.execute(_RECORD_LOCK, {"c": LOCK_CLASS_RECORD})
            record.record(conn, result, self.retention_days, plan)

    def add_run_notes(self, run_id: str, notes: list[str]) -> RunResult:
        """Add ``notes`` to the stored run ``run_id`` (a problem found after it was recorded,
        e.g. its Slack alert failed); returns the stored run as it now is, to re-render from."""
        with self._write(f"adding notes to run {run_id}") as conn:
            return record.add_notes(conn, run_id, notes)

    def fail_run(self, run_id: str, finished_at: datetime) -> bool:
        """Record a run that began but whose results were not kept (its outputs could not be
        written) as "failed", with no results: no finding state moves. True when it was
        still "running"."""
        where = (runs.c.id == run_id) & (runs.c.status == "running")
        with self._write(f"recording run {run_id} as failed") as conn:
            res = conn.execute(sa.update(runs).where(where).values(
                status="failed", finished_at=finished_at))
        return bool(res.rowcount)

    # -- history ----------------------------------------------------------------------------------
    def runs(
        self, limit: int = 30, *, until: datetime | None = None, include_unfinished: bool = False
    ) -> list[RunPoint]:
        """Finished runs, newest first (``until``: started at or before; for re-rendering)."""
        with self._read("listing runs") as conn:
            return queries.run_points(conn, limit, until, include_unfinished)

    def history(self, limit: int = 30) -> list[RunSummary]:
        """Recent runs with their tenants, newest first, including running/interrupted ones."""
        with self._read("listing runs") as conn:
            return queries.run_summaries(conn, limit)

    def load_run(self, run_id: str) -> RunResult:
        """The stored run (``"latest"``: the newest finished one); RunNotFound when absent."""
        with self._read(f"loading run {run_id}") as conn:
            return queries.load_run(conn, run_id)

    def last_successful_audit(self) -> datetime | None:
        with self._read("reading the last audit") as conn:
            return queries.last_time(conn, runs.c.finished_at, "complete")

    def last_run_started(self) -> datetime | None:
        with self._read("reading the last audit") as conn:
            return queries.last_time(conn, runs.c.started_at, None)

    # -- scheduler and notifier ------------------------------------------------------------------
    def claim_slot(self, slot: str, owner: str) -> bool:
        """True for exactly one caller per slot, whichever replica or process asks first."""
        with self._write("claiming a schedule slot") as conn:
            return outbox.claim(conn, slot, owner, self.clock.now())

    def outbox_add(self, run_id: str, destination: str, payload: dict[str, Any]) -> int:
        with self._write("queueing an alert") as conn:
            return outbox.add(conn, run_id, destination, payload, self.clock.now())

    def outbox_pending(self) -> list[OutboxItem]:
        with self._read("reading the alert outbox") as conn:
            return outbox.pending(conn)

    def outbox_mark_sent(self, item_id: int) -> None:
        with self._write("updating the alert outbox") as conn:
            outbox.mark_sent(conn, item_id, self.clock.now())

    def outbox_mark_failed(self, item_id: int, error: str) -> None:
        with self._write("updating the alert outbox") as conn:
            outbox.mark_failed(conn, item_id, error)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
