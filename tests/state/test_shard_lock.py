"""Parallel shards on one store: a lock per shard, the store lock shared among shards and
exclusive for an unsharded audit, interrupted runs marked per shard, one outbox deliverer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from state_helpers import DAY, T0, finding, run

from auditor.notify import deliver_pending
from auditor.notify.slack import Posted, SlackTransport
from auditor.state import LockBusy, Store, StoreError, open_store
from tests.notify.fakeslack import FakeSlack
from tests.notify.helpers import webhook_config

S0, S1 = "shard0of2", "shard1of2"


def _statuses(store: Store) -> dict[str, str]:
    return {r.run_id: r.status for r in store.history(limit=100)}


def test_two_shards_hold_their_locks_at_once(make_store: Callable[..., Store]) -> None:
    a, b = make_store(), make_store()
    with a.audit_lock(wait=False, scope=S0):
        assert a.holds_lock
        with b.audit_lock(wait=False, scope=S1):
            assert b.holds_lock
    assert not a.holds_lock and not b.holds_lock


def test_a_shard_excludes_itself(make_store: Callable[..., Store]) -> None:
    a, b = make_store(), make_store()
    with a.audit_lock(scope=S0):
        with pytest.raises(LockBusy, match="another audit of shard0of2 holds its lock"), \
                b.audit_lock(wait=False, scope=S0):
            pass
        started = time.monotonic()
        with pytest.raises(LockBusy, match=r"waited 0\.3 s"), b.audit_lock(timeout=0.3, scope=S0):
            pass
        assert 0.25 <= time.monotonic() - started < 3
        assert not b.holds_lock  # the store lock it took shared on the way was given back
        with a.audit_lock(wait=False, scope=S0):  # re-entrant in the same thread
            pass
    with b.audit_lock(wait=False, scope=S0):
        pass


def test_an_unsharded_audit_and_shards_exclude_each_other(
    make_store: Callable[..., Store],
) -> None:
    a, b = make_store(), make_store()
    with a.audit_lock(scope=S0):
        with pytest.raises(LockBusy, match="another audit holds the lock"), b.audit_lock(
            wait=False
        ):
            pass
    with a.audit_lock():
        for scope in (S0, S1):
            with pytest.raises(LockBusy, match="another audit holds the lock"), b.audit_lock(
                wait=False, scope=scope
            ):
                pass
        # The same thread may audit a shard while it holds the whole store (re-entrant) ...
        with a.audit_lock(wait=False, scope=S1):
            pass
    # ... but not take the whole store while it holds a shard (no upgrade: it could deadlock).
    with a.audit_lock(scope=S0):
        with pytest.raises(StoreError, match="holds it shared"), a.audit_lock(wait=False):
            pass
        assert a.holds_lock
    with b.audit_lock(wait=False):
        pass


def test_unsharded_audit_waits_for_the_last_shard(make_store: Callable[..., Store]) -> None:
    shards = [make_store(), make_store()]
    whole = make_store()
    holding = threading.Barrier(3)
    released: list[float] = []

    def shard(store: Store, scope: str, hold: float) -> None:
        with store.audit_lock(scope=scope):
            holding.wait(5)
            time.sleep(hold)
            released.append(time.monotonic())

    threads = [threading.Thread(target=shard, args=(s, f"shard{i}of2", 0.2 + 0.3 * i))
               for i, s in enumerate(shards)]
    for t in threads:
        t.start()
    holding.wait(5)
    with whole.audit_lock(timeout=10):
        got_it = time.monotonic()
    for t in threads:
        t.join(10)
    assert len(released) == 2 and got_it >= max(released)


def test_threads_of_one_store_hold_different_shards(store: Store) -> None:
    inside = threading.Barrier(2)
    errors: list[BaseException] = []

    def audit(scope: str, wait: bool = True) -> None:
        try:
            with store.audit_lock(wait=wait, timeout=5, scope=scope):
                inside.wait(5)  # both threads inside at once
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=audit, args=(s,)) for s in (S0, S1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    # The same shard from another thread of the same store waits like another process would.
    with store.audit_lock(scope=S0):
        worker = threading.Thread(target=audit, args=(S0, False))
        worker.start()
        worker.join(10)
    assert len(errors) == 1 and isinstance(errors[0], LockBusy)


def test_a_shard_marks_only_its_own_dead_runs_interrupted(
    make_store: Callable[..., Store],
) -> None:
    dead, live, nxt = make_store(), make_store(), make_store()
    with dead.audit_lock(scope=S0):
        dead.begin_run(f"20260105T020000Z-{S0}", T0, "0.1.0")
    # (the pod of shard 0 died) — shard 1 is auditing right now, shard 0 starts again:
    with live.audit_lock(scope=S1):
        live.begin_run(f"20260106T020000Z-{S1}", T0 + DAY, "0.1.0")
        with nxt.audit_lock(scope=S0):
            assert _statuses(nxt) == {
                f"20260105T020000Z-{S0}": "interrupted",  # its own dead run
                f"20260106T020000Z-{S1}": "running",  # the other shard, alive: left alone
            }
            nxt.begin_run(f"20260106T020001Z-{S0}", T0 + DAY, "0.1.0")
            result = run(T0 + DAY, {"acme": [finding("SOAR-PG-001", 1)]})
            result.run_id = f"20260106T020001Z-{S0}"
            nxt.record_run(result)
        assert _statuses(nxt)[f"20260106T020000Z-{S1}"] == "running"
    # (shard 1 died too) — an unsharded audit excludes every shard: whatever runs is dead.
    with nxt.audit_lock():
        assert _statuses(nxt) == {
            f"20260105T020000Z-{S0}": "interrupted",
            f"20260106T020000Z-{S1}": "interrupted",
            f"20260106T020001Z-{S0}": "complete",
        }


def test_a_shard_leaves_an_unsharded_running_run_alone(make_store: Callable[..., Store]) -> None:
    a, b = make_store(), make_store()
    with a.audit_lock():
        a.begin_run("20260105T020000Z", T0, "0.1.0")
    with b.audit_lock(scope=S0):
        assert _statuses(b) == {"20260105T020000Z": "running"}
    # A scope is matched literally: "_" is no LIKE wildcard for it.
    with a.audit_lock(scope="x_y"):
        a.begin_run("20260105T020000Z-xzy", T0, "0.1.0")
    with b.audit_lock(scope="x_y"):
        assert _statuses(b)["20260105T020000Z-xzy"] == "running"


@pytest.mark.parametrize("scope", ["", "../etc", "a b", "outbox", "x" * 64])
def test_a_bad_scope_is_refused(store: Store, scope: str) -> None:
    with pytest.raises(StoreError, match="not a valid audit lock scope"), store.audit_lock(
        scope=scope
    ):
        pass


def test_two_shards_record_at_once(make_store: Callable[..., Store]) -> None:
    """Both shards write their run at the same moment: both are stored whole."""
    stores = [make_store(), make_store()]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def audit(i: int) -> None:
        store, scope = stores[i], f"shard{i}of2"
        tenant = f"tenant-{i}"
        try:
            with store.audit_lock(timeout=10, scope=scope):
                first = run(T0, {tenant: [finding("SOAR-PG-001", k, tenant) for k in range(300)]})
                first.run_id += f"-{scope}"
                barrier.wait(5)
                store.record_run(first)
                again = run(T0 + DAY, {tenant: [finding("SOAR-PG-001", 1, tenant)]})
                again.run_id += f"-{scope}"
                barrier.wait(5)
                store.record_run(again)
                assert sum(f.status == "resolved" for f in again.findings) == 299
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=audit, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(_statuses(stores[0]).values()) == ["complete"] * 4


# -- the outbox: exactly once with several deliverers ----------------------------------------------
class SlowTransport(SlackTransport):
    """The real transport, a little slow per message: a wide window for a double delivery."""

    def post(self, *args: Any, **kwargs: Any) -> Posted:
        time.sleep(0.05)
        return super().post(*args, **kwargs)


def test_parallel_deliverers_send_each_alert_once(store_url: str) -> None:
    with FakeSlack() as fake:
        slack = webhook_config(fake)
        stores = [open_store(store_url) for _ in range(3)]
        try:
            for k in range(6):
                stores[0].outbox_add(f"20260105T020000Z-shard{k % 2}of2", "default",
                                     {"v": 1, "kind": "message", "text": f"alert {k}",
                                      "blocks": []})
            barrier = threading.Barrier(len(stores))
            outcomes: list[Any] = []

            def deliver(store: Store) -> None:
                barrier.wait(5)
                outcomes.append(deliver_pending(slack, store, transport=SlowTransport(slack)))

            threads = [threading.Thread(target=deliver, args=(s,)) for s in stores]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            texts = sorted(r.body.decode() for r in fake.accepted("webhook"))
            assert len(texts) == 6, texts  # each alert once, not once per deliverer
            assert len(set(texts)) == 6
            assert sum(o.sent for o in outcomes) == 6 and all(o.ok for o in outcomes)
            assert stores[0].outbox_pending() == []
        finally:
            for s in stores:
                s.close()


def test_outbox_delivery_lock_waits_for_the_other_deliverer(
    make_store: Callable[..., Store],
) -> None:
    a, b = make_store(), make_store()
    inside = threading.Event()
    out = threading.Event()

    def hold() -> None:
        with a.outbox_delivery():
            inside.set()
            time.sleep(0.3)
            out.set()

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(5)
    with b.outbox_delivery():
        assert out.is_set()
    holder.join(5)


@pytest.mark.postgres
def test_postgresql_writes_one_run_at_a_time(pg_url: str) -> None:
    """On PostgreSQL a run is written under a transaction-level lock (SQLite writers are one at
    a time anyway): the retention pruning of two shards can never deadlock."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from auditor.state.migrate import LOCK_CLASS_RECORD

    store = open_store(pg_url)
    engine = sa.create_engine(make_url(pg_url).set(drivername="postgresql+psycopg"))
    done = threading.Event()
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:c, hashtext(current_schema()))"),
                         {"c": LOCK_CLASS_RECORD})
            writer = threading.Thread(
                target=lambda: (store.record_run(run(T0, {"acme": []})), done.set())
            )
            writer.start()
            time.sleep(0.5)  # not done.wait(0.5): under libfaketime that wait never times out
            assert not done.is_set()  # waits for the other writer's transaction
        assert done.wait(10)
        writer.join(5)
        assert _statuses(store) == {run(T0, {"acme": []}).run_id: "complete"}
    finally:
        store.close()
        engine.dispose()
