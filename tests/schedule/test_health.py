"""The scheduler's health: heartbeat file, the healthcheck's verdicts, /healthz and /metrics."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from auditor.clock import SYSTEM_CLOCK, Clock, FixedClock
from auditor.config import parse_config
from auditor.engine.findings import Finding, Resource
from auditor.result import RunResult, TenantResult
from auditor.schedule.checks import check, readiness_problems
from auditor.schedule.heartbeat import heartbeat_path, read_heartbeat, write_heartbeat
from auditor.schedule.http import HealthServer
from auditor.schedule.metrics import Metrics
from auditor.schedule.record import Health

DAILY = {"cron": "0 2 * * *", "timezone": "UTC"}
SLOT = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # the latest daily slot before NOW
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def finding(severity: str, status: str = "fail", tenant: str = "acme") -> Finding:
    return Finding(rule_id="SOAR-ENV-001", title="t", severity=severity,  # type: ignore[arg-type]
                   status=status, tenant=tenant,  # type: ignore[arg-type]
                   resource=Resource("api_key", 7, "ci-bot"), message="m", remediation="r")


def result(start: datetime, *, complete: bool = False) -> RunResult:
    """An incomplete audit (globex not collected), or a complete one."""
    tenants = [TenantResult("acme", "ok", None, {"api_keys": 3})]
    if not complete:
        tenants.append(TenantResult("globex", "error", "HTTP 401", {}))
    return RunResult(
        run_id=start.strftime("%Y%m%dT%H%M%SZ"), started_at=start,
        finished_at=start + timedelta(seconds=42), tool_version="0.1.0",
        tenants=tenants,
        findings=[finding("high"), finding("high"), finding("critical"), finding("low", "muted"),
                  finding("medium", "unknown")],
    )


def health_after_audit(start: datetime, slot: datetime | None = SLOT, *,
                       complete: bool = False, clock: Clock = SYSTEM_CLOCK) -> Health:
    health = Health(schedule=DAILY, misfire_grace_seconds=3600, heartbeat_interval_seconds=30,
                    clock=clock)
    health.audit_started(start, "run")
    health.audit_finished(result(start, complete=complete), slot, start + timedelta(seconds=42))
    return health


def snap(health: Health, now: datetime = NOW, **changes: Any) -> dict[str, Any]:
    data = health.snapshot()
    data["updated_at"] = (now - timedelta(seconds=5)).isoformat()
    data.update(changes)
    return data


def test_heartbeat_records_the_last_audit(tmp_path: Path) -> None:
    health = health_after_audit(SLOT + timedelta(seconds=1))
    path = tmp_path / "hb" / "heartbeat.json"
    write_heartbeat(path, health.snapshot())
    data = read_heartbeat(path)
    assert data["state"] == "idle"
    assert data["last_status"] == "incomplete"
    assert data["last_success"] is None  # success is a complete audit, nothing less
    assert data["last_duration_seconds"] == 42
    assert data["findings_by_severity"] == {"critical": 1, "high": 2, "medium": 0, "low": 0,
                                            "info": 0}
    assert data["unknown_findings"] == 1
    assert data["collection_errors"] == 1
    assert data["tenants_failed"] == ["globex"]
    assert data["pid"] > 0
    assert not list(path.parent.glob(".*.tmp"))  # written atomically, nothing left behind


def test_healthy_after_the_audit_of_the_latest_slot() -> None:
    assert check(snap(health_after_audit(SLOT + timedelta(seconds=1))), NOW) == []


def test_success_is_a_complete_audit_and_readiness_says_whether_the_last_one_was() -> None:
    incomplete = health_after_audit(SLOT + timedelta(seconds=1))
    # The scheduler did its job for the slot (not overdue: a tenant it could not collect is a
    # finding), but the results are not to be trusted: not ready, and no success.
    assert check(snap(incomplete), NOW) == []
    (problem,) = readiness_problems(snap(incomplete))
    assert problem.startswith("not ready: the last audit (20261126T020001Z) is incomplete")
    assert "not collected: globex" in problem and "last complete audit: never" in problem
    assert incomplete.last_success is None

    complete = health_after_audit(SLOT + timedelta(seconds=1), complete=True)
    assert readiness_problems(snap(complete)) == []
    assert complete.last_success == SLOT + timedelta(seconds=43)  # when it finished
    # A complete audit, then an incomplete one: the last success stays the complete one.
    complete.audit_started(SLOT + timedelta(hours=1), "r2")
    complete.audit_finished(result(SLOT + timedelta(hours=1)), SLOT, SLOT + timedelta(hours=1))
    assert complete.last_success == SLOT + timedelta(seconds=43)
    assert readiness_problems(snap(complete))
    fresh = Health(schedule=DAILY, misfire_grace_seconds=3600, heartbeat_interval_seconds=30)
    assert readiness_problems(snap(fresh)) == ["not ready: no audit has finished yet"]


def test_overdue_when_the_latest_slot_was_missed() -> None:
    health = health_after_audit(SLOT - timedelta(days=1), SLOT - timedelta(days=1))
    problems = check(snap(health), NOW)
    assert len(problems) == 1 and problems[0].startswith("overdue")
    assert "2026-11-26T02:00:00Z" in problems[0]
    # Within the misfire grace time after the slot it is not overdue yet.
    assert check(snap(health, SLOT + timedelta(minutes=30)), SLOT + timedelta(minutes=30)) == []
    # An audit running for the slot is what should happen.
    running = snap(health, state="running", last_start="2026-11-26T08:30:00Z")
    assert check(running, NOW) == []
    # Another replica audited the slot (a shared store).
    health.slot_done_elsewhere(SLOT)
    assert check(snap(health), NOW) == []


def test_a_failed_audit_does_not_count_as_success() -> None:
    health = health_after_audit(SLOT - timedelta(days=1), SLOT - timedelta(days=1))
    health.audit_started(SLOT, "r2")
    health.audit_failed("error", "state store down", SLOT + timedelta(seconds=3))
    assert any(p.startswith("overdue") for p in check(snap(health), NOW))


def test_stale_heartbeat() -> None:
    data = snap(health_after_audit(SLOT), updated_at=(NOW - timedelta(minutes=10)).isoformat())
    problems = check(data, NOW)
    assert len(problems) == 1 and "stale" in problems[0]
    assert check(data, NOW, max_heartbeat_age=3600) == []


def test_stuck_audit() -> None:
    data = snap(health_after_audit(SLOT), state="running",
                last_start=(NOW - timedelta(hours=7)).isoformat())
    problems = check(data, NOW)
    assert any(p.startswith("stuck") for p in problems)
    assert check(data, NOW, max_audit_seconds=8 * 3600) == []


def test_stopped_scheduler_is_unhealthy() -> None:
    problems = check(snap(health_after_audit(SLOT), state="stopped"), NOW)
    assert problems and "stopped" in problems[0]


def test_liveness_ignores_overdue_audits() -> None:
    health = health_after_audit(SLOT - timedelta(days=1), SLOT - timedelta(days=1))
    assert check(snap(health), NOW, overdue=False) == []
    stale = snap(health, updated_at=(NOW - timedelta(hours=1)).isoformat())
    assert check(stale, NOW, overdue=False)


def test_interval_schedules_are_checked_too() -> None:
    health = Health(schedule={"interval_seconds": 60}, misfire_grace_seconds=30,
                    heartbeat_interval_seconds=1)
    later = NOW + timedelta(seconds=45)  # 45 s after a slot, 30 s grace, no audit yet
    assert any(p.startswith("overdue") for p in check(snap(health, later), later))
    assert check(snap(health, NOW + timedelta(seconds=20)), NOW + timedelta(seconds=20)) == []


def test_malformed_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    assert check({"schedule": {"cron": "not a cron"}}, NOW)[0].startswith("the heartbeat is")
    bad = tmp_path / "hb.json"
    bad.write_text("{oops", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_heartbeat(bad)
    with pytest.raises(ValueError, match="no heartbeat at"):
        read_heartbeat(tmp_path / "missing.json")


def test_heartbeat_path_precedence(tmp_path: Path) -> None:
    base = {"tenants": [{"name": "t", "url": "http://127.0.0.1:1", "api_key": "k" * 8}],
            "reports": {"dir": str(tmp_path / "reports")}}
    plain = parse_config(base, env={})
    env = {"SOAR_AUDITOR_HEARTBEAT_FILE": "/tmp/env.json"}
    assert heartbeat_path(plain, env={}) == tmp_path / "reports" / "heartbeat.json"
    assert heartbeat_path(plain, env=env) == Path("/tmp/env.json")
    assert heartbeat_path(None, "/x/explicit.json", env=env) == Path("/x/explicit.json")
    configured = parse_config({**base, "schedule": {"health": {"heartbeat_file": "/x/c.json"}}},
                              env={})
    assert heartbeat_path(configured, env=env) == Path("/x/c.json")
    with pytest.raises(ValueError, match="--heartbeat-file"):
        heartbeat_path(None, env={})


def _healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", "healthcheck", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_healthcheck_command_exit_codes(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat.json"
    now = datetime.now(UTC)
    health = Health(schedule={"interval_seconds": 3600}, misfire_grace_seconds=3600,
                    heartbeat_interval_seconds=30)
    health.audit_started(now - timedelta(seconds=50), "r")
    health.audit_finished(result(now - timedelta(seconds=50)), None, now - timedelta(seconds=8))
    write_heartbeat(path, health.snapshot())
    ok = _healthcheck("--heartbeat-file", str(path))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("healthy: idle")

    data = json.loads(path.read_text())
    data["state"], data["last_start"] = "running", (now - timedelta(hours=1)).isoformat()
    path.write_text(json.dumps(data))
    stuck = _healthcheck("--heartbeat-file", str(path), "--max-audit-seconds", "600")
    assert stuck.returncode == 1
    assert "unhealthy: stuck" in stuck.stderr

    missing = _healthcheck("--heartbeat-file", str(tmp_path / "nope.json"))
    assert missing.returncode == 1
    assert "no heartbeat at" in missing.stderr


def test_healthcheck_readiness_needs_a_complete_last_audit(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat.json"
    now = datetime.now(UTC)
    for complete in (False, True):
        health = Health(schedule={"interval_seconds": 3600}, misfire_grace_seconds=3600,
                        heartbeat_interval_seconds=30)
        health.audit_started(now - timedelta(seconds=50), "r")
        health.audit_finished(result(now - timedelta(seconds=50), complete=complete), None,
                              now - timedelta(seconds=8))
        write_heartbeat(path, health.snapshot())
        assert _healthcheck("--heartbeat-file", str(path)).returncode == 0
        ready = _healthcheck("--heartbeat-file", str(path), "--readiness")
        assert ready.returncode == (0 if complete else 1), ready.stderr
        if not complete:
            assert "unhealthy: not ready: the last audit (" in ready.stderr
            assert ") is incomplete; not collected: globex" in ready.stderr
            as_json = subprocess.run(
                [sys.executable, "-m", "auditor", "--log-format", "json", "healthcheck",
                 "--heartbeat-file", str(path), "--readiness"],
                capture_output=True, text=True, timeout=60, check=False)
            records = [json.loads(line) for line in
                       (as_json.stdout + as_json.stderr).splitlines()]
            assert records and records[0]["event"] == "unhealthy"


def test_health_endpoints_serve_healthz_readyz_and_metrics() -> None:
    clock = FixedClock(NOW)  # the endpoints judge the record by the health's clock
    health = health_after_audit(NOW - timedelta(seconds=60), None, clock=clock)
    health.update(schedule={"interval_seconds": 3600})
    server = HealthServer(health, Metrics(), "127.0.0.1", 0)
    server.start()
    try:
        ok = requests.get(f"{server.url}/healthz", timeout=5)
        assert ok.status_code == 200  # alive and on time...
        assert ok.json()["status"] == "ok"
        assert ok.json()["collection_errors"] == 1
        assert ok.json()["updated_at"] == "2026-11-26T09:00:00Z"
        ready = requests.get(f"{server.url}/readyz", timeout=5)
        assert ready.status_code == 503  # ...but the last audit was incomplete
        assert ready.json()["status"] == "not ready"
        assert "incomplete" in ready.json()["problems"][0]

        text = requests.get(f"{server.url}/metrics", timeout=5).text
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for fam in text_string_to_metric_families(text) for s in fam.samples}
        assert samples[("soar_auditor_findings", (("severity", "high"),))] == 2
        assert samples[("soar_auditor_findings", (("severity", "critical"),))] == 1
        assert samples[("soar_auditor_collection_errors", ())] == 1
        assert samples[("soar_auditor_last_audit_duration_seconds", ())] == 42
        # No complete audit yet: no success on record.
        assert samples[("soar_auditor_last_success_timestamp_seconds", ())] == 0
        assert samples[("soar_auditor_last_audit_complete", ())] == 0
        assert samples[("soar_auditor_audits_total", (("status", "incomplete"),))] == 1
        (build,) = [labels for (name, labels) in samples if name == "soar_auditor_build_info"]
        assert dict(build)["version"] == "0.1.0"

        start = NOW - timedelta(seconds=30)
        health.audit_started(start, "r2")
        health.audit_finished(result(start, complete=True), None, start + timedelta(seconds=5))
        assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200
        text = requests.get(f"{server.url}/metrics", timeout=5).text
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for fam in text_string_to_metric_families(text) for s in fam.samples}
        assert samples[("soar_auditor_last_success_timestamp_seconds", ())] == pytest.approx(
            (start + timedelta(seconds=5)).timestamp())
        assert samples[("soar_auditor_last_audit_complete", ())] == 1
        clock.advance(timedelta(days=400))
        later = requests.get(f"{server.url}/healthz", timeout=5).json()
        assert later["updated_at"] == "2027-12-31T09:00:00Z" and later["status"] == "ok"

        health.update(state="stopped")
        down = requests.get(f"{server.url}/healthz", timeout=5)
        assert down.status_code == 503
        assert down.json()["status"] == "unhealthy"
        assert requests.get(f"{server.url}/other", timeout=5).status_code == 404
    finally:
        server.stop()
