"""Exactly-once delivery through the state store's outbox.

An alert is written to the outbox *before* it is sent and marked sent when Slack accepts it, so a
failed delivery is retried at the next run (or by ``soar-auditor notify --retry``) and a delivered
one is never sent twice. In bot mode the summary is one outbox item; once Slack accepts it, its
thread replies and the report upload become outbox items of their own (they carry the channel id
and the summary's ``ts``), so a failure half-way never re-posts the summary.

Payloads name a destination ("default", "route:<name>"), never a URL or a token.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from auditor.config import SlackConfig
from auditor.logs import scrub
from auditor.notify.blockkit import section
from auditor.notify.digest import build_digest
from auditor.notify.message import PAYLOAD_VERSION
from auditor.notify.slack import DeliveryError, RetryPolicy, SlackTransport
from auditor.result import RunResult

log = logging.getLogger(__name__)

# An alert that failed this many times is left alone (it stays in the outbox, for the record).
MAX_ATTEMPTS = 20


class OutboxItem(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def run_id(self) -> str: ...
    @property
    def destination(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def attempts(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...


class OutboxStore(Protocol):
    """What the notify stage needs of the state store."""

    def outbox_add(self, run_id: str, destination: str, payload: dict[str, Any]) -> int: ...
    def outbox_pending(self) -> Sequence[OutboxItem]: ...
    def outbox_mark_sent(self, item_id: int) -> None: ...
    def outbox_mark_failed(self, item_id: int, error: str) -> None: ...
    def outbox_delivery(self) -> AbstractContextManager[None]:
        """Held while pending items are read and sent: one deliverer at a time per store."""
        ...


@dataclass(slots=True)
class NotifyOutcome:
    sent: int = 0  # outbox items Slack accepted in this call
    failed: int = 0  # items still undelivered after this call (tried, or skipped: Slack down)
    errors: list[str] = field(default_factory=list)  # one line each, no secret
    queued: int = 0  # messages this run added to the outbox

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.errors


@dataclass(frozen=True, slots=True)
class _Item:
    id: int | None  # None: not in the outbox (the store failed)
    run_id: str
    destination: str
    payload: dict[str, Any]
    attempts: int = 0


def _deliver(item: _Item, transport: SlackTransport, store: OutboxStore | None) -> list[_Item]:
    """Send one item; returns the follow-up items (bot thread replies, report upload)."""
    payload = item.payload
    kind = payload.get("kind")
    if payload.get("v") != PAYLOAD_VERSION or kind not in ("message", "reply", "file"):
        raise DeliveryError(f"unknown alert format (v={payload.get('v')!r}, kind={kind!r})")
    if kind == "reply":
        transport.post(item.destination, payload["text"], payload["blocks"],
                       channel=payload["channel"], thread_ts=payload["thread_ts"])
        return []
    if kind == "file":
        path = Path(payload["path"])
        if not path.is_file():
            log.warning("report %s of run %s no longer exists; not attached", path, item.run_id)
            return []
        transport.upload(payload["channel"], payload["thread_ts"], path, payload["title"],
                         filename=payload.get("filename") or path.name)
        return []
    posted = transport.post(item.destination, payload["text"], payload["blocks"])
    if not transport.is_bot(item.destination) or posted.channel is None:
        return []
    follow: list[dict[str, Any]] = [
        {"v": PAYLOAD_VERSION, "kind": "reply", "channel": posted.channel,
         "thread_ts": posted.ts, "text": reply["text"], "blocks": reply["blocks"]}
        for reply in payload.get("thread") or []
    ]
    if payload.get("report_path"):
        follow.append({"v": PAYLOAD_VERSION, "kind": "file", "channel": posted.channel,
                       "thread_ts": posted.ts, "path": payload["report_path"],
                       "title": f"SOAR key audit report, run {item.run_id}",
                       "filename": f"soar-key-audit-{item.run_id}.html"})
    out = []
    for extra in follow:
        new_id = store.outbox_add(item.run_id, item.destination, extra) if store else None
        out.append(_Item(new_id, item.run_id, item.destination, extra))
    return out


def _run_queue(queue: deque[_Item], transport: SlackTransport, store: OutboxStore | None,
               outcome: NotifyOutcome) -> None:
    down: dict[str, int] = {}  # destination -> items not attempted because it is unreachable
    while queue:
        item = queue.popleft()
        if item.destination in down:
            down[item.destination] += 1
            outcome.failed += 1
            continue
        try:
            try:
                follow = _deliver(item, transport, store)
            except (KeyError, TypeError, AttributeError) as exc:
                raise DeliveryError(
                    f"malformed alert in the outbox ({type(exc).__name__})") from None
        except DeliveryError as exc:
            error = scrub(str(exc))
            outcome.failed += 1
            last = item.id is not None and item.attempts + 1 >= MAX_ATTEMPTS
            outcome.errors.append(
                f"Slack alert for {item.destination} (run {item.run_id}) not delivered: {error}"
                + (f"; giving up after {MAX_ATTEMPTS} attempts" if last else ""))
            if store is not None and item.id is not None:
                store.outbox_mark_failed(item.id, error)
            if exc.unreachable:
                down[item.destination] = 0
            continue
        if store is not None and item.id is not None:
            store.outbox_mark_sent(item.id)
        outcome.sent += 1
        queue.extendleft(reversed(follow))
    for destination, count in down.items():
        if count:
            outcome.errors.append(f"{count} more Slack alert(s) for {destination} wait for the "
                                  "next run (or `soar-auditor notify --retry`)")


def deliver_pending(slack: SlackConfig, store: OutboxStore, *,
                    transport: SlackTransport | None = None,
                    retry: RetryPolicy | None = None) -> NotifyOutcome:
    """Send every undelivered outbox item, oldest first. Never raises for a Slack problem.

    Under the store's outbox lock: audits of parallel shards each deliver the outbox, and an
    item read as pending by one must not be sent by another too (the second one reads the
    outbox after the first has marked what it sent)."""
    outcome = NotifyOutcome()
    transport = transport or SlackTransport(slack, retry=retry)
    try:
        with store.outbox_delivery():
            _deliver_all(store, transport, outcome)
    except Exception as exc:  # noqa: BLE001 - a store failure must not stop the run's reports
        outcome.errors.append(f"Slack alerts not delivered: state store error: {scrub(str(exc))}")
    return outcome


def _deliver_all(store: OutboxStore, transport: SlackTransport, outcome: NotifyOutcome) -> None:
    pending = sorted(store.outbox_pending(), key=lambda i: i.id)  # ids grow: oldest first
    queue: deque[_Item] = deque()
    for item in pending:
        if item.attempts >= MAX_ATTEMPTS:
            log.info("outbox item %s (run %s) gave up after %d attempts", item.id, item.run_id,
                     item.attempts)
            continue
        queue.append(_Item(item.id, item.run_id, item.destination, dict(item.payload),
                           item.attempts))
    _guard(lambda: _run_queue(queue, transport, store, outcome), outcome)


def _guard(action: Callable[[], None], outcome: NotifyOutcome) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - store errors: note them, keep the run going
        outcome.errors.append(f"Slack alerts: state store error: {scrub(str(exc))[:300]}")


def notify_run(result: RunResult, slack: SlackConfig, store: OutboxStore, *,
               report_path: Path | None, since: dict[str, datetime] | None = None,
               transport: SlackTransport | None = None,
               retry: RetryPolicy | None = None,
               legacy_warning_days: int | None = None) -> NotifyOutcome:
    """Queue this run's alerts in the outbox, then deliver everything pending (earlier
    undelivered alerts first). Never raises for a Slack problem: ``outcome.errors`` belongs in
    ``result.notes``."""
    attach = report_path is not None and report_path.is_file()
    messages = build_digest(result, slack, since=since, report_attached=attach,
                            legacy_warning_days=legacy_warning_days)
    report = str(report_path.resolve()) if attach and report_path is not None else None
    transport = transport or SlackTransport(slack, retry=retry)
    try:
        for message in messages:
            store.outbox_add(result.run_id, message.destination, message.payload(report))
    except Exception as exc:  # noqa: BLE001 - the alert matters more than its bookkeeping
        outcome = NotifyOutcome(queued=len(messages))
        outcome.errors.append("Slack alerts could not be queued in the state store "
                              f"({scrub(str(exc))[:200]}); sent without the outbox")
        queue = deque(_Item(None, result.run_id, m.destination, m.payload(report))
                      for m in messages)
        _run_queue(queue, transport, None, outcome)
        return outcome
    outcome = deliver_pending(slack, store, transport=transport)
    outcome.queued = len(messages)
    return outcome


def send_test(slack: SlackConfig, *, transport: SlackTransport | None = None,
              retry: RetryPolicy | None = None) -> NotifyOutcome:
    """A test message to the default destination and every route (not through the outbox)."""
    transport = transport or SlackTransport(slack, retry=retry)
    outcome = NotifyOutcome()
    for destination in transport.destinations():
        text = (f":wave: soar-auditor test message for destination *{destination}*: audit alerts "
                f"will arrive here (notify: {slack.notify}, min_severity: {slack.min_severity}"
                f"{', heartbeat' if slack.heartbeat else ''}).")
        try:
            transport.check(destination)
            transport.post(destination, text, [section(text)])
        except DeliveryError as exc:
            outcome.failed += 1
            outcome.errors.append(f"{destination}: {exc}")
            continue
        outcome.sent += 1
    return outcome
