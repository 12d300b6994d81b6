"""No access token, private key or credential-file content of the Google surfaces in any output,
log, state store or capture (the canary test of the Chronicle API and IAM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.clock import SYSTEM_CLOCK, Clock
from auditor.simulator.scenario import builtin_scenario
from tests.e2e.helpers import cli, tenant_entry, write_config

TOKEN_PREFIX = "ya29.sim-"  # every access token the simulator issues starts so


@pytest.fixture
def simulator_clock() -> Clock:
    """The CLI audits in a subprocess, on the system clock: so do the simulators it audits."""
    return SYSTEM_CLOCK


def _secret_parts(info: dict[str, Any]) -> list[str]:
    """The private key's base64 lines and the credential file's identifying values."""
    lines = [line for line in info["private_key"].splitlines()
             if line and not line.startswith("-----")]
    return [*lines, info["private_key_id"], json.dumps(info)]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_no_google_secret_in_outputs_logs_state_or_captures(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, start_simulator: Any,
) -> None:
    srv = start_simulator(builtin_scenario("demo"))
    info = srv.service_account_info()
    keys = tmp_path_factory.mktemp("keys") / "sa.json"  # outside the folder searched below
    keys.write_text(json.dumps(info), encoding="utf-8")
    chron = srv.scenario.chronicle
    entry = {**tenant_entry(srv, "acme-prod", "SOAR_KEY"), "chronicle": {
        "project": chron.project, "location": chron.location, "instance": chron.instance,
        "endpoint": srv.url, "iam_endpoint": srv.url, "google_credentials_file": str(keys)}}
    cfg = write_config(tmp_path / "auditor.yaml", {
        "tenants": [entry],
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        "reports": {"dir": str(tmp_path / "reports"),
                    "formats": ["html", "json", "csv", "junit", "ocsf", "markdown",
                                "migration"]},
    })
    env = {"SOAR_KEY": srv.app_key}
    printed = ""
    for fmt in ("text", "json"):
        proc = cli("-vv", "--log-format", fmt, "run", "--config", str(cfg), env=env)
        assert proc.returncode == 0, proc.stderr
        printed += proc.stdout + proc.stderr
    for extra in ([], ["--anonymize"]):
        out = tmp_path / f"capture{len(extra)}.yaml"
        proc = cli("-vv", "capture", "--config", str(cfg), "--tenant", "acme-prod",
                   "--out", str(out), *extra, env=env)
        assert proc.returncode == 0, proc.stderr
        printed += proc.stdout + proc.stderr
    proc = cli("-vv", "doctor", "--config", str(cfg), env=env)
    printed += proc.stdout + proc.stderr
    assert srv.tokens_issued >= 4  # every run, capture and doctor got a token of its own
    assert "ListIdpMappingGroups" in printed  # the Google surfaces were really read

    files = _files(tmp_path)
    assert any(name.endswith("inventory.json") for name in files)
    assert any(name.endswith("capture1.yaml") for name in files)
    for secret in [*_secret_parts(info), TOKEN_PREFIX, "PRIVATE KEY"]:
        assert secret not in printed, "a Google secret was printed"
        leaks = [name for name, data in files.items() if secret.encode() in data]
        assert not leaks, f"a Google secret was written to {leaks}"


def test_the_demo_writes_no_key_or_token(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = cli("-vv", "demo", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "legacySoarIdpMappingGroups" in proc.stdout + proc.stderr  # read, at -vv
    for name, data in _files(out).items():
        assert b"PRIVATE KEY" not in data and TOKEN_PREFIX.encode() not in data, name
    assert "PRIVATE KEY" not in proc.stdout + proc.stderr
    assert TOKEN_PREFIX not in proc.stdout + proc.stderr
