"""One audit at a time per store: the lock, concurrent audits, interrupted runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from state_helpers import DAY, T0, finding, run

from auditor.result import RunResult
from auditor.state import LockBusy, Store, StoreError


def test_lock_is_exclusive_between_stores(make_store: Callable[..., Store]) -> None:
    a, b = make_store(), make_store()
    with a.audit_lock():
        assert a.holds_lock
        with (
            pytest.raises(LockBusy, match="another audit holds the lock"),
            b.audit_lock(wait=False),
        ):
            pass
        started = time.monotonic()
        with pytest.raises(LockBusy, match=r"waited 0\.3 s"), b.audit_lock(timeout=0.3):
            pass
        assert 0.25 <= time.monotonic() - started < 3
        with a.audit_lock(wait=False):  # re-entrant in the same store
            pass
        assert a.holds_lock
    assert not a.holds_lock
    with b.audit_lock(wait=False):
        pass


def test_waiting_audit_gets_the_lock_when_released(make_store: Callable[..., Store]) -> None:
    a, b = make_store(), make_store()
    a_has_it = threading.Event()

    def hold() -> None:
        with a.audit_lock():
            a_has_it.set()
            time.sleep(0.4)

    holder = threading.Thread(target=hold)
    holder.start()
    assert a_has_it.wait(5)
    started = time.monotonic()
    with b.audit_lock(timeout=10):
        waited = time.monotonic() - started
    holder.join()
    assert 0.2 <= waited < 5


def test_concurrent_audits_do_not_interleave(make_store: Callable[..., Store]) -> None:
    """Two audits started together on one store: one runs whole, then the other, which sees
    the first one's findings (open, not new)."""
    stores = {"a": make_store(), "b": make_store()}
    events: list[tuple[str, str]] = []
    results: dict[str, RunResult] = {}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def audit(name: str, day: int) -> None:
        store = stores[name]
        try:
            barrier.wait(5)
            with store.audit_lock(timeout=30):
                events.append(("enter", name))
                history = store.tenant_history("acme")
                time.sleep(0.3)  # collecting and evaluating
                result = run(T0 + day * DAY, {"acme": [finding("SOAR-PG-001", 1)]})
                result.notes.append(f"history: {history.previous_audit_at}")
                store.record_run(result)
                results[name] = result
                events.append(("exit", name))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=audit, args=(n, d)) for n, d in (("a", 0), ("b", 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    first, second = events[0][1], events[2][1]
    assert events == [("enter", first), ("exit", first), ("enter", second), ("exit", second)]
    assert results[first].findings[0].lifecycle == "new"
    assert results[second].findings[0].lifecycle == "open"
    assert results[first].notes == ["history: None"]
    assert results[second].notes != ["history: None"]  # it read the first audit's snapshot
    assert len(stores["a"].runs()) == 2


def test_stale_running_run_is_marked_interrupted(make_store: Callable[..., Store]) -> None:
    dead, alive = make_store(), make_store()
    dead.record_run(run(T0, {"acme": [finding("SOAR-PG-001", 1)]}))
    with dead.audit_lock():
        dead.begin_run("20260106T020000Z", T0 + DAY, "0.1.0")
        assert [r.status for r in alive.history()] == ["running", "complete"]
    # (the process "died" without recording) — the next audit marks it interrupted.
    with alive.audit_lock():
        pass
    rows = alive.history()
    assert [(r.run_id, r.status) for r in rows] == [
        ("20260106T020000Z", "interrupted"),
        ("20260105T020000Z", "complete"),
    ]
    assert [p.status for p in alive.runs()] == ["complete"]  # trend: finished runs only
    assert len(alive.runs(include_unfinished=True)) == 2
    with pytest.raises(StoreError, match="interrupted"):
        alive.load_run("20260106T020000Z")
    assert alive.load_run("latest").run_id == "20260105T020000Z"
    nxt = run(T0 + 2 * DAY, {"acme": [finding("SOAR-PG-001", 1)]})
    with alive.audit_lock():
        alive.record_run(nxt)
    assert nxt.findings[0].lifecycle == "open"


def test_begin_then_record_completes_the_running_row(store: Store) -> None:
    result = run(T0, {"acme": [finding("SOAR-PG-001", 1)]})
    with store.audit_lock():
        store.begin_run(result.run_id, result.started_at, result.tool_version)
        with store.audit_lock():  # re-entrant: does not mark its own run interrupted
            assert [r.status for r in store.history()] == ["running"]
        store.record_run(result)
        with pytest.raises(StoreError, match="already stored"):
            store.begin_run(result.run_id, result.started_at, result.tool_version)
    assert [(r.run_id, r.status, r.failing) for r in store.history()] == [
        (result.run_id, "complete", 1)
    ]


def test_openers_of_a_new_sqlite_store_at_once_all_get_it(tmp_path: Path) -> None:
    """Two shards starting together on a fresh SQLite file: switching it to WAL is raced by every
    opener, and SQLite answers "database is locked" at once (no busy wait) to the losers. Each
    opener must wait and then open the store, every time (CI saw one shard fail with exit 3)."""
    from auditor.state import open_store

    def opener(url: str, barrier: threading.Barrier, errors: list[str]) -> None:
        barrier.wait()
        try:
            open_store(url).close()
        except StoreError as exc:
            errors.append(str(exc))

    for attempt in range(150):
        url = f"sqlite:///{tmp_path / f'state{attempt}.db'}"
        barrier = threading.Barrier(4)
        errors: list[str] = []
        threads = [threading.Thread(target=opener, args=(url, barrier, errors)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [], f"attempt {attempt}: {errors[0]}"
