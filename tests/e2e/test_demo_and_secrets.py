"""The demo as a first-time user runs it, and the promise that no secret leaves memory."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from auditor.clock import SYSTEM_CLOCK, Clock
from auditor.simulator.scenario import builtin_scenario
from tests.e2e.helpers import cli, tenant_entry, write_config


@pytest.fixture
def simulator_clock() -> Clock:
    """The CLI audits in a subprocess, on the system clock: so do the simulators it audits."""
    return SYSTEM_CLOCK


def _all_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_demo_shows_findings_history_and_the_alert(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = cli("demo", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for name in ("findings.json", "report.html", "findings.csv", "inventory.json", "slack.json",
                 "junit.xml", "findings.ocsf.jsonl", "summary.md", "state.db"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "findings.json").read_text())
    env001 = [f for f in doc["findings"]
              if f["rule_id"] == "SOAR-ENV-001" and f["status"] == "fail"]
    assert env001, "the demo must show a snapshot-scoped key"
    # Night 2 saw a new environment: the snapshot key does not cover it.
    assert any("Acme LATAM" in json.dumps(f["evidence"]) for f in env001)
    lifecycles = {f["lifecycle"] for f in doc["findings"]}
    assert {"new", "open", "resolved"} <= lifecycles
    assert any(f["rule_id"] == "SOAR-CHG-001" for f in doc["findings"])
    assert any(f["rule_id"] == "SOAR-CHG-002" for f in doc["findings"])
    assert "The Slack alert this audit would send" in proc.stdout
    _assert_slack_json(out / "slack.json", doc)


def _assert_slack_json(path: Path, doc: dict[str, Any]) -> None:
    """slack.json as notify's save_slack_json writes it: the alert for the demo's findings."""
    text = path.read_text(encoding="utf-8")
    saved = json.loads(text)
    assert list(saved) == ["messages"]
    [message] = saved["messages"]  # no Slack configured: one message, to the default
    assert message["destination"] == "default" and message["thread"] == []
    assert message["text"].endswith(f"(run {doc['run']['id']})")
    shown = json.dumps(message["blocks"], ensure_ascii=False)
    assert f"*Failing now:* {doc['summary']['failing']} " in shown
    rank = ["info", "low", "medium", "high", "critical"]
    changed = {f["rule_id"] for f in doc["findings"]
               if f["lifecycle"] in ("new", "reopened") and f["status"] in ("fail", "unknown")
               and rank.index(f["severity"]) >= rank.index("medium")}
    resolved = {f["rule_id"] for f in doc["findings"] if f["status"] == "resolved"
                and rank.index(f["severity"]) >= rank.index("medium")}
    assert changed and resolved
    for rule_id in changed | resolved:
        assert f"`{rule_id}`" in shown, rule_id
    # SOAR text is escaped for Slack mrkdwn: no mention, no link, no HTML from a key name.
    assert "<!channel>" not in text and "<img" not in text
    assert not [s for s in builtin_scenario("demo").canary_secrets() if s in text]


def test_hostile_names_are_escaped_in_html_and_neutralized_in_csv(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    assert cli("demo", "--out", str(out)).returncode == 0
    html = (out / "report.html").read_text()
    assert "<img src=x onerror=alert(1)>" not in html
    assert "<!channel>" not in html
    with (out / "findings.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    cells = [c for row in rows for c in row]
    assert not [c for c in cells if c.startswith(("=", "+", "@"))]
    assert any(c.startswith("'=HYPERLINK") for c in cells)
    assert "\x1b" not in (out / "findings.csv").read_text()
    assert "\x1b" not in cli("demo", "--out", str(tmp_path / "again")).stdout


def test_no_secret_in_any_output_log_or_error(tmp_path: Path, start_simulator: Any) -> None:
    scenario = builtin_scenario("demo")
    canaries = scenario.canary_secrets()
    assert canaries
    srv = start_simulator(scenario)
    broken = start_simulator(scenario)
    broken.set_faults([{"endpoint": "GetEnvironments", "status": 500}])
    cfg = write_config(tmp_path / "auditor.yaml", {
        "tenants": [tenant_entry(srv, "acme-prod", "SOAR_KEY"),
                    tenant_entry(broken, "broken", "SOAR_KEY")],
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        "reports": {"dir": str(tmp_path / "reports"),
                    "formats": ["html", "json", "csv", "junit", "ocsf", "markdown"]},
    })
    secrets = {*canaries, srv.app_key}
    printed = ""
    for fmt in ("text", "json"):
        proc = cli("-vv", "--log-format", fmt, "run", "--config", str(cfg),
                   env={"SOAR_KEY": srv.app_key})
        assert proc.returncode == 3, proc.stderr
        printed += proc.stdout + proc.stderr
    # A wrong key: the error names the tenant, never the key.
    proc = cli("run", "--config", str(cfg), env={"SOAR_KEY": "wrong-" + srv.app_key})
    printed += proc.stdout + proc.stderr
    assert "HTTP 401" in proc.stderr
    files = _all_bytes(tmp_path)
    assert len(files) > 10
    for secret in secrets:
        assert secret not in printed, "a secret was printed"
        leaks = [name for name, data in files.items() if secret.encode() in data]
        assert not leaks, f"a secret was written to {leaks}"
