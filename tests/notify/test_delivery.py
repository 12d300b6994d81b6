"""Delivery over real loopback HTTP with the real slack-sdk clients: retries, exactly once through
the outbox (in memory and in the real SQLite state store), bot threads and report upload."""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from auditor.notify import (
    NotifyOutcome,
    OutboxStore,
    RetryPolicy,
    build_digest,
    deliver_pending,
    notify_run,
)
from auditor.notify.outbox import MAX_ATTEMPTS

from .builders import finding, result
from .fakeslack import FakeSlack
from .helpers import Sleeps, bot_config, webhook_config


def body(rec: Any) -> dict[str, Any]:
    data = json.loads(rec.body)
    assert isinstance(data, dict)
    return data


def run_one(run_id: str = "20261126T020000Z", key: str = "ci-bot") -> Any:
    return result([finding("SOAR-PG-001", key=key)], run_id=run_id)


def test_webhook_delivers_the_digest_once(fake: FakeSlack, store: OutboxStore,
                                          retry: RetryPolicy) -> None:
    slack = webhook_config(fake)
    run = result([finding("SOAR-PG-001", key="new-key"),
                  finding("SOAR-ROLE-001", key="back-key", key_id=8, lifecycle="reopened"),
                  finding("SOAR-ENV-001", key="fixed-key", key_id=9, lifecycle="resolved",
                          status="resolved"),
                  finding("SOAR-AUDIT-001", tenant="beta")],
                 tenants=("acme-prod", "beta"), errors={"beta": "HTTP 503 from the SOAR API"})
    outcome = notify_run(run, slack, store, report_path=None, retry=retry)
    assert outcome == NotifyOutcome(sent=1, failed=0, errors=[], queued=1)
    [post] = fake.accepted("webhook")
    sent = body(post)
    assert sent["blocks"] == build_digest(run, slack)[0].blocks
    assert sent["blocks"][0]["text"]["text"] == \
        "SOAR key audit: 1 new, 1 reopened, 1 resolved, 1 tenant(s) NOT audited"
    text = json.dumps(sent, ensure_ascii=False)
    for needle in ("*beta* could not be audited (since 2026-11-26 02:00 UTC): HTTP 503 from the "
                   "SOAR API", "key *new-key* (id 7): new-key breaks SOAR-PG-001",
                   "`SOAR-ROLE-001` _(reopened)_", "acme-prod · key *fixed-key*"):
        assert needle in text
    assert sent["unfurl_links"] is False
    assert store.outbox_pending() == []
    # Delivered means delivered: nothing is sent again.
    assert deliver_pending(slack, store, retry=retry) == NotifyOutcome()
    assert len(fake.requests) == 1


def test_429_then_200_delivers_once_after_retry_after(fake: FakeSlack, store: OutboxStore,
                                                      retry: RetryPolicy, sleeps: Sleeps) -> None:
    fake.fail(429, retry_after=7, endpoint="webhook")
    outcome = notify_run(run_one(), webhook_config(fake), store, report_path=None, retry=retry)
    assert (outcome.sent, outcome.failed, outcome.errors) == (1, 0, [])
    assert [r.status for r in fake.calls("webhook")] == [429, 200]
    assert sleeps == [7.0]  # exactly what Retry-After asked for
    assert store.outbox_pending() == []


def test_retry_after_is_really_waited_for(fake: FakeSlack) -> None:
    from .memstore import MemoryOutbox

    store = MemoryOutbox()
    fake.fail(429, retry_after=1, endpoint="chat.postMessage")
    start = time.monotonic()
    outcome = notify_run(run_one(), bot_config(fake), store, report_path=None,
                         retry=RetryPolicy(backoff_seconds=0.01))
    assert time.monotonic() - start >= 1.0
    assert outcome.sent == 2 and outcome.failed == 0  # summary + thread reply
    assert [r.status for r in fake.calls("chat.postMessage")] == [429, 200, 200]


def test_server_errors_are_retried_with_backoff(fake: FakeSlack, store: OutboxStore,
                                                retry: RetryPolicy, sleeps: Sleeps) -> None:
    fake.fail(503, endpoint="webhook")
    fake.fail(502, endpoint="webhook")
    outcome = notify_run(run_one(), webhook_config(fake), store, report_path=None, retry=retry)
    assert outcome.sent == 1
    assert [r.status for r in fake.calls("webhook")] == [503, 502, 200]
    assert sleeps == [0.01, 0.02]


def slack_down_then_up(fake: FakeSlack, store: OutboxStore, retry: RetryPolicy) -> None:
    slack = webhook_config(fake)
    fake.down()
    first = notify_run(run_one("20261126T020000Z"), slack, store, report_path=None, retry=retry)
    assert (first.sent, first.failed, first.queued) == (0, 1, 1)
    [error] = first.errors
    assert error.startswith("Slack alert for default (run 20261126T020000Z) not delivered: "
                            "cannot reach Slack: [Errno 111] Connection refused")
    [pending] = store.outbox_pending()
    assert pending.attempts == 1
    assert pending.last_error and "Connection refused" in pending.last_error
    fake.up()
    second = notify_run(run_one("20261127T020000Z", key="other"), slack, store,
                        report_path=None, retry=retry)
    assert (second.sent, second.failed, second.errors) == (2, 0, [])
    # Oldest first, each exactly once.
    runs = [body(r)["text"] for r in fake.accepted("webhook")]
    assert len(runs) == 2
    assert "20261126T020000Z" in runs[0] and "20261127T020000Z" in runs[1]
    assert deliver_pending(slack, store, retry=retry).sent == 0
    assert len(fake.accepted("webhook")) == 2


def test_slack_down_for_a_whole_run_then_up_delivers_at_the_next_run_once(
        fake: FakeSlack, store: OutboxStore, retry: RetryPolicy) -> None:
    slack_down_then_up(fake, store, retry)


def test_exactly_once_on_postgresql(fake: FakeSlack, pg_store: OutboxStore,
                                    retry: RetryPolicy) -> None:
    slack_down_then_up(fake, pg_store, retry)


def test_rate_limited_for_the_whole_run_stays_queued(fake: FakeSlack, store: OutboxStore,
                                                     retry: RetryPolicy, sleeps: Sleeps) -> None:
    slack = webhook_config(fake)
    fake.fail(429, retry_after=1, times=4, endpoint="webhook")
    outcome = notify_run(run_one(), slack, store, report_path=None, retry=retry)
    assert outcome.failed == 1 and "HTTP 429" in outcome.errors[0]
    assert sleeps == [1.0, 1.0, 1.0]  # three retries, then the outbox keeps it
    # A Retry-After longer than we wait in a run is not waited for at all.
    fake.fail(429, retry_after=3600, endpoint="webhook")
    assert deliver_pending(slack, store, retry=retry).failed == 1
    assert sleeps == [1.0, 1.0, 1.0]
    assert deliver_pending(slack, store, retry=retry).sent == 1
    assert len(fake.accepted("webhook")) == 1


def test_bot_posts_summary_threads_details_and_attaches_the_report(
        fake: FakeSlack, store: OutboxStore, retry: RetryPolicy, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_bytes(b"<!doctype html><title>report</title>" + b"x" * 5000)
    run = result([finding("SOAR-PG-001", tenant="acme", key="a1"),
                  finding("SOAR-PG-001", tenant="beta", key="b1")], tenants=("acme", "beta"))
    outcome = notify_run(run, bot_config(fake), store, report_path=report, retry=retry)
    assert (outcome.sent, outcome.failed, outcome.errors) == (4, 0, [])  # summary, 2 replies, file
    summary, *replies = fake.accepted("chat.postMessage")
    assert body(summary)["channel"] == "#soar-alerts" and "thread_ts" not in body(summary)
    assert summary.headers["authorization"] == f"Bearer {fake.token}"
    channel, ts = summary.answer["channel"], summary.answer["ts"]
    assert [(body(r)["channel"], body(r)["thread_ts"]) for r in replies] == [(channel, ts)] * 2
    assert [body(r)["blocks"][0]["text"]["text"].split(":")[0] for r in replies] == \
        ["*acme*", "*beta*"]
    # files_upload_v2: its three calls, the upload going to the URL the fake handed out.
    [get_url] = fake.accepted("files.getUploadURLExternal")
    [upload] = fake.accepted("upload")
    [complete] = fake.accepted("files.completeUploadExternal")
    assert get_url.params["length"] == str(report.stat().st_size)
    assert get_url.answer["upload_url"].startswith(f"{fake.base_url}/upload/")
    assert upload.path == get_url.answer["upload_url"].removeprefix(fake.base_url)
    assert "authorization" not in upload.headers
    assert fake.uploads == {get_url.answer["file_id"]: report.read_bytes()}
    assert complete.params["channel_id"] == channel and complete.params["thread_ts"] == ts
    assert json.loads(complete.params["files"])[0]["title"] == \
        "SOAR key audit report, run 20261126T020000Z"
    assert store.outbox_pending() == []


def test_a_failure_half_way_never_posts_the_summary_twice(
        fake: FakeSlack, store: OutboxStore, retry: RetryPolicy, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    report.write_text("<html></html>", encoding="utf-8")
    slack = bot_config(fake)
    fake.fail(500, times=3, endpoint="chat.postMessage", skip=1)  # the thread reply, 3 attempts
    first = notify_run(run_one(), slack, store, report_path=report, retry=retry)
    assert (first.sent, first.failed) == (1, 2)  # summary sent; reply failed; upload waits
    assert any("wait for the next run" in e for e in first.errors)
    assert fake.calls("files.getUploadURLExternal") == []
    second = deliver_pending(slack, store, retry=retry)
    assert (second.sent, second.failed, second.errors) == (2, 0, [])
    summary, reply = fake.accepted("chat.postMessage")
    assert "thread_ts" not in body(summary)
    assert body(reply)["thread_ts"] == summary.answer["ts"]
    assert len(fake.accepted("files.completeUploadExternal")) == 1


def test_routes_are_delivered_to_their_own_webhooks(fake: FakeSlack, store: OutboxStore,
                                                    retry: RetryPolicy) -> None:
    slack = webhook_config(fake, routes=[
        {"name": "beta", "tenant": "beta", "webhook_url": fake.webhook_url("beta-hook")}])
    run = result([finding(tenant="acme"), finding(tenant="beta", key="bkey")],
                 tenants=("acme", "beta"))
    outcome = notify_run(run, slack, store, report_path=None, retry=retry)
    assert outcome.sent == 2
    default, route = fake.accepted("webhook")
    assert fake.hook_name(default) == "default" and fake.hook_name(route) == "beta-hook"
    assert "bkey" in json.dumps(body(route)) and "ci-bot" not in json.dumps(body(route))


def test_500_new_findings_are_accepted_by_slack(fake: FakeSlack, store: OutboxStore,
                                                retry: RetryPolicy) -> None:
    findings = [finding("SOAR-PG-001", tenant=f"t{i % 30}", key=f"key-{i}", key_id=i)
                for i in range(500)]
    run = result(findings, tenants=tuple(f"t{i}" for i in range(30)))
    for slack in (webhook_config(fake), bot_config(fake)):
        outcome = notify_run(run, slack, store, report_path=None, retry=retry)
        assert outcome.failed == 0 and outcome.errors == []
    assert len(fake.accepted("webhook")) == 1
    # Bot: the summary, 20 tenant replies and one "and 10 more tenants" reply.
    assert len(fake.accepted("chat.postMessage")) == 22
    assert all(r.status == 200 for r in fake.requests)


def test_an_alert_for_a_removed_route_is_reported_and_does_not_block_others(
        fake: FakeSlack, store: OutboxStore, retry: RetryPolicy) -> None:
    store.outbox_add("20261125T020000Z", "route:gone", {"v": 1, "kind": "message", "text": "x",
                                                        "blocks": [], "thread": []})
    outcome = notify_run(run_one(), webhook_config(fake), store, report_path=None, retry=retry)
    assert (outcome.sent, outcome.failed) == (1, 1)
    assert outcome.errors == ["Slack alert for route:gone (run 20261125T020000Z) not delivered: "
                              "destination 'route:gone' is no longer in the configuration"]


def test_gives_up_on_an_alert_after_max_attempts(fake: FakeSlack, retry: RetryPolicy) -> None:
    from .memstore import MemoryOutbox

    store = MemoryOutbox()
    store.outbox_add("r1", "route:gone", {"v": 1, "kind": "message", "text": "x", "blocks": []})
    slack = webhook_config(fake)
    for _ in range(MAX_ATTEMPTS - 1):
        deliver_pending(slack, store, retry=retry)
    last = deliver_pending(slack, store, retry=retry)
    assert last.errors[0].endswith(f"giving up after {MAX_ATTEMPTS} attempts")
    assert deliver_pending(slack, store, retry=retry) == NotifyOutcome()


class BrokenStore:
    def outbox_add(self, run_id: str, destination: str, payload: dict[str, Any]) -> int:
        raise RuntimeError("database is locked")

    def outbox_pending(self) -> list[Any]:
        raise RuntimeError("database is locked")

    def outbox_mark_sent(self, item_id: int) -> None:
        raise AssertionError("not reached")

    def outbox_mark_failed(self, item_id: int, error: str) -> None:
        raise AssertionError("not reached")

    def outbox_delivery(self) -> AbstractContextManager[None]:
        return nullcontext()


def test_a_broken_store_never_stops_the_alert_nor_raises(fake: FakeSlack,
                                                         retry: RetryPolicy) -> None:
    slack = webhook_config(fake)
    outcome = notify_run(run_one(), slack, BrokenStore(), report_path=None, retry=retry)
    assert outcome.sent == 1 and len(fake.accepted("webhook")) == 1
    assert outcome.errors == ["Slack alerts could not be queued in the state store (database is "
                              "locked); sent without the outbox"]
    outcome = deliver_pending(slack, BrokenStore(), retry=retry)
    assert outcome.errors == ["Slack alerts not delivered: state store error: database is locked"]


def test_a_malformed_outbox_item_is_reported_not_fatal(fake: FakeSlack, store: OutboxStore,
                                                       retry: RetryPolicy) -> None:
    store.outbox_add("20261125T020000Z", "default", {"v": 1, "kind": "reply"})
    outcome = notify_run(run_one(), webhook_config(fake), store, report_path=None, retry=retry)
    assert (outcome.sent, outcome.failed) == (1, 1)
    assert outcome.errors == ["Slack alert for default (run 20261125T020000Z) not delivered: "
                              "malformed alert in the outbox (KeyError)"]
