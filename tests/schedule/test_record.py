"""The health record (auditor.schedule.record): what the heartbeat says of the last audit."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from health_builders import SLOT, health_after_audit

from auditor.schedule.heartbeat import read_heartbeat, write_heartbeat


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
