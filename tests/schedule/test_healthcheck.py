"""`soar-auditor healthcheck [--readiness]`: exit codes from the heartbeat file alone."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from health_builders import result

from auditor.clock import SYSTEM_CLOCK
from auditor.schedule.heartbeat import write_heartbeat
from auditor.schedule.record import Health


def _healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "auditor", "healthcheck", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_healthcheck_command_exit_codes(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat.json"
    now = SYSTEM_CLOCK.now()
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
    now = SYSTEM_CLOCK.now()
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
