"""Stored runs, retention, schema versions and URLs (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from state_helpers import DAY, T0, finding, inventory, key, run

from auditor.state import RunNotFound, Store, StoreError, open_store
from auditor.state.connect import create_engine, parse_url
from auditor.state.migrate import current_version, migrate
from auditor.state.schema import SCHEMA_VERSION


def test_load_run_returns_the_recorded_document(store: Store) -> None:
    inv = inventory(keys=(key(1), key(2)))
    first = run(T0, {"acme": [finding("SOAR-PG-001", 1)], "beta": "HTTP 503"}, {"acme": inv})
    first.notes.append("Slack: delivery failed")
    first.checks = {"SOAR-PG-001": 2}
    store.record_run(first)
    second = run(T0 + DAY, {"acme": [], "beta": "HTTP 503"}, {"acme": inv})
    store.record_run(second)

    loaded = store.load_run(second.run_id)
    assert loaded.to_dict() == second.to_dict()
    assert loaded.inventories == {"acme": inv}
    assert [f.status for f in loaded.findings] == ["fail", "resolved"]
    assert store.load_run("latest").run_id == second.run_id
    assert store.load_run(first.run_id).to_dict() == first.to_dict()
    with pytest.raises(RunNotFound, match="no stored run"):
        store.load_run("19990101T000000Z")


def test_runs_newest_first_with_counts(store: Store) -> None:
    assert store.runs() == []
    assert store.last_successful_audit() is None and store.last_run_started() is None
    store.record_run(run(T0, {"acme": [finding("SOAR-PG-001", 1, severity="critical")]}))
    store.record_run(run(T0 + DAY, {"acme": [], "beta": "timeout"}))
    store.record_run(run(T0 + 2 * DAY, {"acme": [finding("SOAR-AGE-001", 2, severity="medium")]}))
    points = store.runs()
    assert [p.started_at for p in points] == [T0 + 2 * DAY, T0 + DAY, T0]
    assert [p.status for p in points] == ["complete", "incomplete", "complete"]
    assert (points[2].failing, points[2].new, points[2].by_severity["critical"]) == (1, 1, 1)
    assert (points[1].failing, points[1].resolved) == (1, 1)  # beta's audit finding fails
    assert points[0].by_severity["medium"] == 1
    assert [p.run_id for p in store.runs(limit=1)] == [points[0].run_id]
    assert [p.started_at for p in store.runs(until=T0 + DAY)] == [T0 + DAY, T0]
    assert store.last_run_started() == T0 + 2 * DAY
    assert store.last_successful_audit() == T0 + 2 * DAY + timedelta(seconds=3)  # finished_at

    rows = store.history()
    assert [r.status for r in rows] == ["complete", "incomplete", "complete"]
    assert [(t.name, t.status, t.resolved) for t in rows[1].tenants] == [
        ("acme", "ok", 1),
        ("beta", "error", 0),
    ]
    assert rows[1].tenants[1].error == "timeout" and rows[1].tenants[1].failing == 1


def test_duplicate_run_id_is_refused(store: Store) -> None:
    store.record_run(run(T0, {"acme": []}))
    with pytest.raises(StoreError, match="already stored"):
        store.record_run(run(T0, {"acme": []}))


def test_retention_keeps_each_tenants_last_complete_audit(make_store: Callable[..., Store]) -> None:
    store = make_store(retention_days=10)
    store.record_run(run(T0, {"acme": [finding("SOAR-PG-001", 1)], "beta": []}))
    store.record_run(run(T0 + DAY, {"acme": [], "beta": []}))  # acme's finding resolves
    store.record_run(run(T0 + 2 * DAY, {"acme": [], "beta": "gone"}))
    for day in range(3, 30):
        store.record_run(run(T0 + day * DAY, {"acme": []}))
    kept = {p.started_at for p in store.runs(limit=100)}
    # beta's last complete audit (day 1) stays; acme's old runs go; the last 10 days stay.
    assert T0 + DAY in kept
    assert T0 not in kept and T0 + 2 * DAY not in kept
    assert {T0 + d * DAY for d in range(19, 30)} <= kept
    assert min(kept - {T0 + DAY}) == T0 + 19 * DAY
    assert store.tenant_history("beta").previous_audit_at == T0 + DAY
    # The resolved state was forgotten with the retention: the finding is new again.
    again = run(T0 + 30 * DAY, {"acme": [finding("SOAR-PG-001", 1)]})
    store.record_run(again)
    assert again.findings[0].lifecycle == "new"


def test_newer_schema_is_refused(store_url: str, store: Store) -> None:
    store.close()
    engine = create_engine(parse_url(store_url))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = :v"), {"v": SCHEMA_VERSION + 1})
    engine.dispose()
    with pytest.raises(StoreError, match="newer than this soar-auditor") as err:
        open_store(store_url)
    assert f"schema version {SCHEMA_VERSION + 1}" in str(err.value)
    assert parse_url(store_url).password is None or str(parse_url(store_url).password) not in str(
        err.value
    )


def test_upgrade_from_version_1_keeps_data(store_url: str) -> None:
    engine = create_engine(parse_url(store_url))
    migrate(engine, "test", target=1)
    with engine.begin() as conn:
        assert current_version(conn) == 1
        assert not sa.inspect(conn).has_table("outbox")
        conn.exec_driver_sql(
            "INSERT INTO runs (id, started_at, status, tool_version, failing, unknown, muted, new,"
            " resolved, by_severity) VALUES ('20250101T000000Z', '2025-01-01 00:00:00', 'complete',"
            " '0.0.1', 3, 0, 0, 3, 0, '{}')"
        )
    store = open_store(store_url)
    try:
        with engine.connect() as conn:
            assert current_version(conn) == SCHEMA_VERSION == 3
        assert [p.failing for p in store.runs()] == [3]
        assert store.outbox_add("20250101T000000Z", "default", {"text": "hi"}) >= 1
        assert store.claim_slot("2025-01-01T02:00", "replica-a") is True
    finally:
        store.close()
        engine.dispose()


def test_open_is_idempotent(store_url: str) -> None:
    for _ in range(2):
        open_store(store_url).close()
    engine = create_engine(parse_url(store_url))
    with engine.connect() as conn:
        assert current_version(conn) == SCHEMA_VERSION
    engine.dispose()


def test_sqlite_creates_folder_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    open_store(f"sqlite:///{path}").close()
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:hunter22@db/x", "unsupported database"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("postgresql+psycopg2://u:hunter22@db/x", "psycopg"),
        ("not a url", "not a valid database URL"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message) as err:
        open_store(url)
    assert "hunter22" not in str(err.value)


def test_unreachable_postgres_hides_password() -> None:
    with pytest.raises(StoreError) as err:
        open_store("postgres://auditor:s3cr3t-pw@127.0.0.1:1/state")
    text = str(err.value)
    assert "s3cr3t-pw" not in text
    assert "postgresql+psycopg://auditor:***@127.0.0.1:1/state" in text


@pytest.mark.postgres
def test_postgres_scheme_spellings(pg_url: str) -> None:
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        url = prefix + pg_url.split("://", 1)[1]
        store = open_store(url)
        try:
            assert store.backend == "postgresql"
            assert "***" in store.where or parse_url(url).password is None
        finally:
            store.close()


@pytest.mark.postgres
def test_wrong_password_message_hides_it(pg_url: str) -> None:
    url = parse_url(pg_url).set(password="Wr0ng-Pa55-xyz")
    with pytest.raises(StoreError, match="cannot open the state store") as err:
        open_store(url.render_as_string(hide_password=False))
    assert "Wr0ng-Pa55-xyz" not in str(err.value)
    assert "password authentication failed" in str(err.value)
