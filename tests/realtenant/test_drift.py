"""Shapes the client does not know: the audit completes where the data it needs is there, and the
run lists each (endpoint, field) once, however many records and tenants carry it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import yaml

from auditor.clock import SYSTEM_CLOCK
from auditor.config import parse_config
from auditor.simulator.scenario import Scenario
from auditor.simulator.server import SimulatorServer
from tests.conftest import TEST_NOW
from tests.e2e.helpers import cli
from tests.realtenant.helpers import TokenServer, make_service_account

NOW = TEST_NOW  # the simulators' clock (conftest)


def test_unknown_fields_and_shapes_are_listed_once(
    start_simulator: Callable[..., SimulatorServer], demo_scenario: Scenario, tmp_path: Path,
) -> None:
    from auditor.pipeline import run_audit

    data = demo_scenario.to_dict()
    for record in data["api_keys"]:  # a field nobody has seen yet, on every key
        record["lastUsedTimeUnixTimeInMs"] = 1_700_000_000_000
    data["api_keys"][5]["environments"] = "Acme HQ"  # a text where a list is expected
    data["environments"][1]["region"] = "eu-west"
    data["permission_groups"][1]["status"] = "Disabled"  # not a boolean: the detail decides
    sims = [start_simulator(data), start_simulator(data)]
    config = parse_config({
        "tenants": [{"name": f"tenant-{i}", "url": s.url, "api_key": s.app_key}
                    for i, s in enumerate(sims)],
        "state": f"sqlite:///{tmp_path}/state.db",
        "reports": {"dir": str(tmp_path), "formats": ["json"]},
    })
    result = run_audit(config, now=NOW, out_dir=tmp_path / "out", notify=False)
    assert result.status == "complete"
    assert len(result.inventories["tenant-0"].api_keys) == 19

    document = json.loads((tmp_path / "out" / "findings.json").read_text())
    listed = Counter((d["endpoint"], d["field"]) for d in document["drift"])
    assert set(listed.values()) == {1}
    assert {
        ("GetApiKeys", "lastUsedTimeUnixTimeInMs"),
        ("GetApiKeys", "environments"),
        ("GetApiKeys", "description"),
        ("GetEnvironments", "region"),
        ("GetEnvironments", "aliases"),
        ("GetAllEnvironmentStatus", "(response)"),
    } <= set(listed)
    details = {(d["endpoint"], d["field"]): d["detail"] for d in document["drift"]}
    assert details[("GetApiKeys", "environments")] == "a text instead of a list; read as one name"
    assert details[("GetApiKeys", "lastUsedTimeUnixTimeInMs")] == "unknown field, ignored"


def test_the_terminal_summary_lists_drift_and_marks_google_tenants(
    start_simulator: Callable[..., SimulatorServer], demo_scenario: Scenario, tmp_path: Path,
    token_server: Callable[..., TokenServer],
) -> None:
    """`soar-auditor run` in a subprocess: one `drift:` line per note after the table (hostile
    field names shown as escapes, not obeyed), and the auth of each tenant."""
    tokens = token_server(["ya29.cli-token-0000000000"])
    account = make_service_account(tmp_path, tokens.token_uri)
    tokens.state.public_pem = account.public_pem
    data = demo_scenario.to_dict()
    hostile = "evil\x1b[2J[bold red]field"
    for record in data["api_keys"]:
        record["lastUsedTimeUnixTimeInMs"] = 1_700_000_000_000
        record[hostile] = 1
    data["environments"][1]["region"] = "eu-west"
    data["bearer_tokens"] = ["ya29.cli-token-0000000000"]
    sim = start_simulator(data, clock=SYSTEM_CLOCK)  # the CLI audits on the system clock
    config = tmp_path / "auditor.yaml"
    config.write_text(yaml.safe_dump({
        "tenants": [
            {"name": "gcp-prod", "url": sim.url, "auth": "google",
             "google_credentials_file": str(account.path), "timeout_seconds": 5},
            {"name": "legacy", "url": sim.url, "api_key": "${SOAR_LEGACY_KEY}",
             "timeout_seconds": 5},
        ],
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        "reports": {"dir": str(tmp_path / "reports"), "formats": ["json"]},
    }), encoding="utf-8")
    proc = cli("run", "--config", str(config), "--no-notify",
               env={"SOAR_LEGACY_KEY": sim.app_key, "GOOGLE_APPLICATION_CREDENTIALS": ""})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout.splitlines()
    assert "\x1b" not in proc.stdout
    rows = {line.split()[1]: line.split()[1:] for line in out
            if line.startswith("│") and line.split()[1] in ("gcp-prod", "legacy")}
    assert rows["gcp-prod"][2:5] == ["ok", "│", "google"]
    assert rows["legacy"][2:5] == ["ok", "│", "appkey"]
    drift = [line for line in out if line.startswith("drift: ")]
    document = json.loads(next((tmp_path / "reports").glob("2*/findings.json")).read_text())
    # One line per tenant and note, naming the tenant (the document lists each note once).
    assert len(drift) == 2 * len(document["drift"]) >= 6
    for tenant in ("gcp-prod", "legacy"):
        assert f"drift: {tenant}: GetApiKeys lastUsedTimeUnixTimeInMs: unknown field, ignored" \
            in drift
        assert f"drift: {tenant}: GetEnvironments region: unknown field, ignored" in drift
        assert f"drift: {tenant}: GetApiKeys evil\\x1b[2J[bold red]field: unknown field, " \
            "ignored" in drift
    table_end = max(i for i, line in enumerate(out) if line.startswith("└"))
    assert all(out.index(line) > table_end for line in drift)  # after the table
    assert any(line.startswith("auth google: instance migrated to Google Cloud") for line in out)
