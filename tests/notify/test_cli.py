"""`soar-auditor notify --test` and `notify --retry` against the fake Slack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from auditor.cli import main
from auditor.notify import RetryPolicy, notify_run
from auditor.state import open_store

from .builders import finding, result
from .fakeslack import FakeSlack
from .helpers import webhook_config


def write_config(tmp_path: Path, slack: dict[str, Any] | None) -> Path:
    data: dict[str, Any] = {
        "tenants": [{"name": "acme", "url": "http://127.0.0.1:9", "api_key": "${SOAR_KEY}"}],
        "state": "sqlite:///state.db",  # relative: next to the configuration file
    }
    if slack is not None:
        data["slack"] = slack
    path = tmp_path / "auditor.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def invoke(*args: str, env: dict[str, str]) -> Any:
    return CliRunner().invoke(main, ["notify", *args], env={"SOAR_KEY": "soar-test-k", **env},
                              catch_exceptions=False)


def test_notify_test_sends_a_test_message_by_webhook(fake: FakeSlack, tmp_path: Path) -> None:
    config = write_config(tmp_path, {"webhook_url": "${HOOK}", "min_severity": "high"})
    hook = fake.webhook_url()
    res = invoke("--config", str(config), "--test", env={"HOOK": hook})
    assert res.exit_code == 0, res.output
    assert "test message sent to 1 destination(s), 0 failed" in res.output
    [post] = fake.accepted("webhook")
    text = json.loads(post.body)["text"]
    assert text.startswith(":wave: soar-auditor test message for destination *default*")
    assert "min_severity: high" in text
    assert hook not in res.output


def test_notify_test_checks_the_bot_token_and_each_route(fake: FakeSlack, tmp_path: Path) -> None:
    slack = {"bot_token": "${TOKEN}", "channel": "#soc", "api_base_url": fake.api_url,
             "routes": [{"name": "beta", "tenant": "beta", "channel": "#beta"}]}
    config = write_config(tmp_path, slack)
    res = invoke("--config", str(config), "--test", env={"TOKEN": fake.token})
    assert res.exit_code == 0, res.output
    assert len(fake.accepted("auth.test")) == 2
    assert [json.loads(r.body)["channel"] for r in fake.accepted("chat.postMessage")] == \
        ["#soc", "#beta"]
    # A wrong token: exit 1, Slack's reason shown, the token not.
    res = invoke("--config", str(config), "--test", env={"TOKEN": "xox" "b-test-wrong-value"})
    assert res.exit_code == 1
    assert "invalid_auth" in res.output and "xox" "b-test-wrong-value" not in res.output


def test_notify_retry_delivers_what_is_queued(fake: FakeSlack, tmp_path: Path) -> None:
    hook = fake.webhook_url()
    config = write_config(tmp_path, {"webhook_url": "${HOOK}"})
    fake.down()
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        outcome = notify_run(result([finding()]), webhook_config(fake), store, report_path=None,
                             retry=RetryPolicy(backoff_seconds=0.001))
    assert outcome.failed == 1
    fake.up()
    res = invoke("--config", str(config), "--retry", env={"HOOK": hook})
    assert res.exit_code == 0, res.output
    assert "delivered 1 queued Slack message(s), 0 still waiting" in res.output
    assert len(fake.accepted("webhook")) == 1
    res = invoke("--config", str(config), "--retry", env={"HOOK": hook})
    assert "delivered 0 queued Slack message(s)" in res.output
    assert len(fake.accepted("webhook")) == 1


def test_notify_retry_exit_1_while_slack_refuses(fake: FakeSlack, tmp_path: Path) -> None:
    hook = fake.webhook_url()
    config = write_config(tmp_path, {"webhook_url": "${HOOK}"})
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        store.outbox_add("20261126T020000Z", "default",
                         {"v": 1, "kind": "message", "text": "t", "blocks": [], "thread": []})
    fake.fail(403, body="invalid_token", endpoint="webhook")
    res = invoke("--config", str(config), "--retry", env={"HOOK": hook})
    assert res.exit_code == 1
    assert "not delivered: Slack answered HTTP 403: invalid_token" in res.output


def test_notify_usage_and_configuration_errors(tmp_path: Path) -> None:
    config = write_config(tmp_path, None)
    res = invoke("--config", str(config), "--test", env={})
    assert res.exit_code == 2 and "there is no slack: section" in res.output
    res = invoke("--config", str(config), env={})
    assert res.exit_code == 2 and "exactly one of --test or --retry" in res.output
    res = invoke("--config", str(config), "--test", "--retry", env={})
    assert res.exit_code == 2
    bad = write_config(tmp_path, {"webhook_url": "http://hooks.example.com/x"})
    res = invoke("--config", str(bad), "--test", env={})
    assert res.exit_code == 2
    assert "auditor.yaml:1: slack: webhook URL must be an https:// URL" in res.output
    assert "hooks.example.com/x" not in res.output


def test_notify_retry_waits_for_a_running_audit(fake: FakeSlack, tmp_path: Path) -> None:
    hook = fake.webhook_url()
    config = write_config(tmp_path, {"webhook_url": "${HOOK}"})
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        store.outbox_add("20261126T020000Z", "default",
                         {"v": 1, "kind": "message", "text": "t", "blocks": [], "thread": []})
        with store.audit_lock():
            res = invoke("--config", str(config), "--retry", "--lock-timeout", "0.2",
                         env={"HOOK": hook})
        assert res.exit_code == 1 and "an audit is running" in res.output
        assert fake.requests == []
        res = invoke("--config", str(config), "--retry", env={"HOOK": hook})
        assert res.exit_code == 0 and len(fake.accepted("webhook")) == 1
