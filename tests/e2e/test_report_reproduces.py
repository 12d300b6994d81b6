"""`report --run ID` reproduces, byte for byte, every file the audit of that run wrote.

What is written and what is stored are the same document: the audit runs through the real CLI
against the simulator, then `report --run ID --out DIR` re-renders every format from the state
store, and each file must equal the audit's own. Three runs: a demo-like pair of nights (new, open,
resolved findings, a trend), a run whose Slack alert fails (its note must be in both), and an
incomplete run (a tenant not collected, exit 3).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.clock import SYSTEM_CLOCK, Clock
from auditor.report import FORMATS
from tests.e2e.helpers import cli, tenant_entry, write_config
from tests.notify.fakeslack import FakeSlack


@pytest.fixture
def simulator_clock() -> Clock:
    """The CLI audits in a subprocess, on the system clock: so do the simulators it audits."""
    return SYSTEM_CLOCK


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _config(tmp_path: Path, state: str, tenants: list[dict[str, Any]], **extra: Any) -> Path:
    return write_config(tmp_path / "auditor.yaml", {
        "tenants": tenants,
        "state": state,
        "reports": {"dir": str(tmp_path / "reports"), "formats": list(FORMATS)},
        "rules": {"params": {"key_name_pattern": "^[a-z0-9][a-z0-9-]*$"}},
        **extra,
    })


def _audit(cfg: Path, out: Path, env: dict[str, str], expect: int) -> str:
    proc = cli("--log-format", "json", "run", "--config", str(cfg), "--out", str(out), env=env)
    assert proc.returncode == expect, proc.stderr
    run_id: str = json.loads((out / "findings.json").read_text(encoding="utf-8"))["run"]["id"]
    return run_id


def _assert_reproduced(cfg: Path, run_id: str, written: Path, tmp_path: Path) -> None:
    again = tmp_path / f"again-{run_id}"
    formats = [arg for name in FORMATS for arg in ("--format", name)]
    proc = cli("report", "--config", str(cfg), "--run", run_id, "--out", str(again), *formats)
    assert proc.returncode == 0, proc.stderr
    audit, report = _files(written), _files(again)
    assert sorted(report) == sorted(audit)
    # One file per format at least (a format added to the registry is covered automatically).
    assert len(audit) >= len(FORMATS) + 1
    differ = [name for name in audit if audit[name] != report[name]]
    assert not differ, f"report --run {run_id} does not reproduce {differ}"


def _chronicle_entry(srv: Any, keys: Path) -> dict[str, Any]:
    keys.write_text(json.dumps(srv.service_account_info()), encoding="utf-8")
    chron = srv.scenario.chronicle
    return {**tenant_entry(srv, "acme-prod", "SOAR_KEY"), "chronicle": {
        "project": chron.project, "location": chron.location, "instance": chron.instance,
        "endpoint": srv.url, "iam_endpoint": srv.url, "google_credentials_file": str(keys)}}


def test_a_demo_like_pair_of_nights_is_reproduced(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, start_simulator: Any,
    state: str,
) -> None:
    srv = start_simulator("demo")
    keys = tmp_path_factory.mktemp("keys") / "sa.json"
    cfg = _config(tmp_path, state, [_chronicle_entry(srv, keys)])
    env = {"SOAR_KEY": srv.app_key}
    first = _audit(cfg, tmp_path / "night-1", env, 0)
    srv.set_phase("after")
    second = _audit(cfg, tmp_path / "night-2", env, 0)
    doc = json.loads((tmp_path / "night-2" / "findings.json").read_text(encoding="utf-8"))
    assert {"new", "open", "resolved"} <= {f["lifecycle"] for f in doc["findings"]}
    _assert_reproduced(cfg, first, tmp_path / "night-1", tmp_path)
    _assert_reproduced(cfg, second, tmp_path / "night-2", tmp_path)


def test_a_run_whose_slack_alert_failed_is_reproduced_with_its_note(
    tmp_path: Path, start_simulator: Any, state: str
) -> None:
    srv = start_simulator("demo")
    with FakeSlack() as slack:
        slack.fail(500, times=100, endpoint="webhook")
        cfg = _config(tmp_path, state, [tenant_entry(srv, "acme-prod", "SOAR_KEY")],
                      slack={"webhook_url": "${SLACK_HOOK}", "notify": "all"})
        env = {"SOAR_KEY": srv.app_key, "SLACK_HOOK": slack.webhook_url()}
        run_id = _audit(cfg, tmp_path / "out", env, 0)
        assert slack.calls("webhook"), "the alert was not attempted"
    doc = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert [n for n in doc["notes"] if n.startswith("Slack: ")], doc["notes"]
    assert "Slack: " in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    _assert_reproduced(cfg, run_id, tmp_path / "out", tmp_path)


def test_an_incomplete_run_is_reproduced(tmp_path: Path, start_simulator: Any,
                                         state: str) -> None:
    srv = start_simulator("demo")
    broken = start_simulator("demo")
    broken.set_faults([{"endpoint": "GetEnvironments", "status": 500}])
    cfg = _config(tmp_path, state, [tenant_entry(srv, "acme-prod", "SOAR_KEY"),
                                    tenant_entry(broken, "broken", "SOAR_KEY")])
    run_id = _audit(cfg, tmp_path / "out", {"SOAR_KEY": srv.app_key}, 3)
    doc = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    assert doc["run"]["status"] == "incomplete"
    _assert_reproduced(cfg, run_id, tmp_path / "out", tmp_path)
