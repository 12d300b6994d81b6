"""State URLs -> SQLAlchemy engines: SQLite (WAL, busy timeout, real transactions) or PostgreSQL
(psycopg 3). Every message names the URL with its password hidden."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

from auditor.logs import scrub
from auditor.state.errors import StoreError

SQLITE_BUSY_TIMEOUT_MS = 30_000


def parse_url(url: str) -> URL:
    """The user's URL as SQLAlchemy needs it: postgres:// and postgresql:// use psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            "state: not a valid database URL (expected sqlite:///path/to/state.db or "
            "postgresql://user@host/db)"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        if driver not in ("", "psycopg"):
            raise StoreError(
                f"state: {safe_url(parsed)}: only the psycopg (3) driver is supported; "
                "write postgresql://..."
            )
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise StoreError(f"state: {safe_url(parsed)}: write sqlite:///path/to/state.db")
        if (
            not parsed.database
            or parsed.database == ":memory:"
            or parsed.database.startswith("file:")
        ):
            raise StoreError(
                "state: an in-memory SQLite store remembers nothing; give a file, "
                "e.g. sqlite:///reports/state.db"
            )
        return parsed.set(drivername="sqlite")
    raise StoreError(
        f"state: {safe_url(parsed)}: unsupported database (use sqlite:/// or postgresql://)"
    )


def safe_url(url: URL | str) -> str:
    """The URL for messages: password hidden."""
    if isinstance(url, str):
        try:
            url = make_url(url)
        except ArgumentError:
            return "<unparsable URL>"
    return url.render_as_string(hide_password=True)


def safe_message(exc: BaseException, url: URL) -> str:
    """One line about a driver error, with no password and no registered secret in it."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    if url.password:
        line = line.replace(str(url.password), "***")
    return scrub(line)


def sqlite_path(url: URL) -> Path:
    assert url.database
    return Path(url.database)


def create_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def _enter_wal(cur: Any) -> None:
    """``PRAGMA journal_mode = WAL``, waiting like every other statement does.

    SQLite answers "database is locked" at once, without calling the busy handler, when two
    connections switch a new database to WAL at the same moment (two shards starting together on
    a fresh store): retry with a short back-off for as long as the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def _sqlite_engine(url: URL) -> Engine:
    path = sqlite_path(url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"state: cannot create the folder {path.parent} for the SQLite store: {exc.strerror}"
        ) from None
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    # pysqlite's own transaction handling skips BEGIN before DDL and SELECT; SQLAlchemy emits
    # BEGIN itself instead (the documented recipe), so migrations and reads are transactional.
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            _enter_wal(cur)
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
        finally:
            cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the write lock up front (no deadlock when a reader upgrades later).
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
