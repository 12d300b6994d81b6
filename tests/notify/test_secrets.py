"""The webhook URL, the bot token and SOAR keys appear in no log (slack-sdk's DEBUG logs
included), outbox payload, saved message, rendered message, error or exception text."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import pytest

from auditor.config import TenantConfig
from auditor.notify import (
    RetryPolicy,
    SlackTransport,
    build_digest,
    deliver_pending,
    notify_run,
    render_terminal,
    save_slack_json,
    send_test,
)
from auditor.notify.slack import DeliveryError

from .builders import finding, result
from .fakeslack import FakeSlack
from .helpers import bot_config, webhook_config
from .memstore import MemoryOutbox


def test_no_secret_leaves_memory(fake: FakeSlack, retry: RetryPolicy, tmp_path: Path,
                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="slack_sdk")
    soar_key = f"soar-test-{secrets.token_hex(16)}"
    TenantConfig.model_validate({"name": "acme", "url": "http://127.0.0.1:9",
                                 "api_key": soar_key})
    webhook = webhook_config(fake)
    route_hook = fake.webhook_url("route")
    bot = bot_config(fake, routes=[{"name": "r", "webhook_url": route_hook}])
    assert webhook.webhook_url is not None
    hook_url = webhook.webhook_url.get_secret_value()
    hook_path = hook_url.removeprefix(fake.base_url)
    wanted = [hook_url, hook_path, route_hook, route_hook.removeprefix(fake.base_url),
              fake.token, soar_key]

    report = tmp_path / "report.html"
    report.write_text("<html>report</html>", encoding="utf-8")
    run = result([finding(tenant="acme", key="ci-bot", message="key ci-bot is admin")],
                 tenants=("acme", "beta"), errors={"beta": "HTTP 401"})
    store = MemoryOutbox()
    seen: list[str] = []

    def note(outcome: object) -> None:
        seen.append(repr(outcome))

    # Success, with thread and upload, on both transports.
    note(notify_run(run, webhook, store, report_path=report, retry=retry))
    note(notify_run(run, bot, store, report_path=report, retry=retry))
    # Failures of every kind: 429 and 5xx exhausted, Slack down, a revoked token, a dead hook.
    fake.fail(429, retry_after=0, times=10)
    note(notify_run(run, webhook, store, report_path=None, retry=retry))
    fake.state.faults.clear()
    fake.fail(500, times=10)
    note(notify_run(run, bot, store, report_path=report, retry=retry))
    fake.state.faults.clear()
    fake.down()
    note(notify_run(run, bot, store, report_path=report, retry=retry))
    note(send_test(webhook, retry=retry))
    fake.up()
    revoked = bot_config(fake)
    fake.state.token = "xox" "b-test-rotated"
    note(send_test(revoked, retry=retry))
    note(deliver_pending(revoked, store, retry=retry))
    fake.state.hooks.clear()
    note(deliver_pending(webhook, store, retry=retry))
    with pytest.raises(DeliveryError) as err:
        SlackTransport(webhook, retry=retry).post("default", "x", [])
    seen.append(str(err.value) + repr(err.value))
    assert "HTTP 404: no_service" in str(err.value)

    slack_json = tmp_path / "slack.json"
    messages = build_digest(run, bot)
    save_slack_json(messages, slack_json)
    seen += [render_terminal(messages), slack_json.read_text(encoding="utf-8"), store.dump()]
    seen += [r.body.decode("utf-8", "replace") for r in fake.requests]  # what Slack was sent
    seen += [caplog.text, *(r.getMessage() for r in caplog.records)]
    seen += [str(r.exc_text) for r in caplog.records if r.exc_text]

    # The test can fail: slack-sdk really logged requests and responses at DEBUG.
    sdk = [r.getMessage() for r in caplog.records if r.name.startswith("slack_sdk")]
    assert any("Sending a request" in m for m in sdk)
    assert any("[REDACTED]" in m for m in sdk)  # the webhook URL was in a log line
    assert any("Connection refused" in s for s in seen) and any("invalid_auth" in s for s in seen)
    for text in seen:
        for secret in wanted:
            assert secret not in text


def test_the_real_store_keeps_no_secret(fake: FakeSlack, retry: RetryPolicy,
                                        tmp_path: Path) -> None:
    from auditor.state import open_store

    slack = bot_config(fake)
    fake.down()
    db = tmp_path / "state.db"
    with open_store(f"sqlite:///{db}") as store:
        notify_run(result([finding()]), slack, store, report_path=None, retry=retry)
        [item] = store.outbox_pending()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("state.db*"))  # with -wal, -journal
    assert b"Connection refused" in raw  # the error was stored
    assert item.destination == "default"
    assert fake.token.encode() not in raw and fake.base_url.encode() not in raw
    assert json.dumps(item.payload).find(fake.token) == -1
