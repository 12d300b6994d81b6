"""Slack outbox and scheduler slot claims, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest

from auditor.clock import SYSTEM_CLOCK
from auditor.logs import register_secret
from auditor.state import Store, StoreError


def test_outbox_lifecycle(make_store: Callable[..., Store]) -> None:
    store = make_store()
    before = SYSTEM_CLOCK.now() - timedelta(seconds=5)
    first = store.outbox_add("20260105T020000Z", "default", {"text": "3 new findings", "n": 3})
    second = store.outbox_add("20260105T020000Z", "route:acme", {"text": "acme"})
    assert second > first
    items = store.outbox_pending()
    assert [(i.id, i.destination, i.payload, i.attempts, i.last_error) for i in items] == [
        (first, "default", {"text": "3 new findings", "n": 3}, 0, None),
        (second, "route:acme", {"text": "acme"}, 0, None),
    ]
    assert items[0].run_id == "20260105T020000Z"
    assert before <= items[0].created_at <= SYSTEM_CLOCK.now() + timedelta(seconds=5)

    secret = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
    register_secret(secret)
    store.outbox_mark_failed(second, f"HTTP 500 from {secret}")
    store.outbox_mark_failed(second, "timeout " + "x" * 5000)
    store.outbox_mark_sent(first)
    # Another process (a retry command) sees the same state.
    other = make_store()
    pending = other.outbox_pending()
    assert [(i.id, i.attempts) for i in pending] == [(second, 2)]
    assert pending[0].last_error is not None and len(pending[0].last_error) <= 1000
    store.outbox_mark_failed(second, f"HTTP 500 from {secret}")
    error = other.outbox_pending()[0].last_error or ""
    assert secret not in error and "[REDACTED]" in error
    other.outbox_mark_sent(second)
    assert store.outbox_pending() == []


@pytest.mark.parametrize(
    "destination",
    ["https://hooks.slack.com/services/T/B/x", "xoxb-123-456", "", "a b", "hooks.slack.com"],
)
def test_outbox_refuses_urls_and_tokens(store: Store, destination: str) -> None:
    with pytest.raises(StoreError, match="configuration name") as err:
        store.outbox_add("r", destination, {})
    if destination:
        assert destination not in str(err.value)
    assert store.outbox_pending() == []


def test_claim_slot_once(make_store: Callable[..., Store]) -> None:
    a, b = make_store(), make_store()
    assert a.claim_slot("2026-01-05T02:00:00Z", "replica-a") is True
    assert b.claim_slot("2026-01-05T02:00:00Z", "replica-b") is False
    assert a.claim_slot("2026-01-05T02:00:00Z", "replica-a") is False
    assert b.claim_slot("2026-01-06T02:00:00Z", "replica-b") is True


def test_claim_slot_race_has_one_winner(make_store: Callable[..., Store]) -> None:
    stores = [make_store() for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    wins: list[bool] = []
    errors: list[BaseException] = []

    def claim(i: int) -> None:
        try:
            barrier.wait(5)
            wins.append(stores[i].claim_slot("2026-01-07T02:00:00Z", f"replica-{i}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(wins) == [False] * (len(stores) - 1) + [True]
