"""notify stage: Slack alerts — what to say (digest), how to send it (slack), exactly once
(outbox), and how ``demo`` shows it (render)."""

from auditor.notify.blockkit import Limits
from auditor.notify.digest import build_digest
from auditor.notify.message import Message, Reply, messages_to_json
from auditor.notify.outbox import (
    NotifyOutcome,
    OutboxItem,
    OutboxStore,
    deliver_pending,
    notify_run,
    send_test,
)
from auditor.notify.render import render_terminal, save_slack_json
from auditor.notify.slack import DeliveryError, RetryPolicy, SlackTransport

__all__ = [
    "DeliveryError",
    "Limits",
    "Message",
    "NotifyOutcome",
    "OutboxItem",
    "OutboxStore",
    "Reply",
    "RetryPolicy",
    "SlackTransport",
    "build_digest",
    "deliver_pending",
    "messages_to_json",
    "notify_run",
    "render_terminal",
    "save_slack_json",
    "send_test",
]
