"""Faults around the audit: a reports folder that cannot be written, a damaged state store. One
line, exit 3, no traceback, and nothing stored is lost (the findings stay new for the next run).
Real subprocesses against a simulator on loopback."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from auditor.clock import SYSTEM_CLOCK, Clock
from tests.e2e.helpers import cli, tenant_entry, write_config


@pytest.fixture
def simulator_clock() -> Clock:
    """The CLI audits in a subprocess, on the system clock: so does the simulator."""
    return SYSTEM_CLOCK


def _setup(tmp_path: Path, srv: Any, reports: Path) -> tuple[Path, dict[str, str]]:
    cfg = write_config(tmp_path / "auditor.yaml", {
        "tenants": [tenant_entry(srv, "acme-prod", "ACME_KEY")],
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        "reports": {"dir": str(reports), "formats": ["html", "json"]},
    })
    return cfg, {"ACME_KEY": srv.app_key}


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _errors(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("soar-auditor:")]


def test_a_reports_folder_that_cannot_be_created_audits_nothing(tmp_path: Path,
                                                                start_simulator: Any) -> None:
    srv = start_simulator("demo")
    reports = tmp_path / "reports"
    cfg, env = _setup(tmp_path, srv, reports)
    assert cli("run", "--config", str(cfg), env=env).returncode == 0
    stored = _rows(tmp_path / "state.db", "SELECT id, status FROM runs")
    asked = len(srv.request_log)
    reports.rename(tmp_path / "old-reports")
    reports.write_text("a file where the reports folder should be\n")
    proc = cli("run", "--config", str(cfg), env=env)
    assert proc.returncode == 3, proc.stderr
    (line,) = _errors(proc.stderr)
    assert f"reports: cannot write into {reports}: " in line
    assert line.endswith("; nothing was audited")
    assert len(srv.request_log) == asked  # no tenant was asked anything
    assert _rows(tmp_path / "state.db", "SELECT id, status FROM runs") == stored


def test_reports_that_cannot_be_written_record_the_run_failed(tmp_path: Path,
                                                              start_simulator: Any) -> None:
    srv = start_simulator("demo")
    cfg, env = _setup(tmp_path, srv, tmp_path / "reports")
    out = tmp_path / "out"
    (out / "findings.json").mkdir(parents=True)  # the file cannot be put there (even as root)
    proc = cli("run", "--config", str(cfg), "--out", str(out), env=env)
    assert proc.returncode == 3, proc.stderr
    (line,) = _errors(proc.stderr)
    assert "reports: cannot write " in line and "is recorded as failed" in line
    db = tmp_path / "state.db"
    [(run_id, status, document)] = _rows(db, "SELECT id, status, document FROM runs")
    assert (status, document) == ("failed", None)
    assert run_id in line
    assert _rows(db, "SELECT count(*) FROM findings") == [(0,)]  # no lifecycle moved
    assert _rows(db, "SELECT count(*) FROM tenants") == [(0,)]

    history = cli("history", "--config", str(cfg), "--format", "json", env=env)
    assert history.returncode == 0, history.stderr
    assert [(r["id"], r["status"]) for r in json.loads(history.stdout)] == [(run_id, "failed")]

    # Once the folder is fixed, nothing was lost: every finding is still new.
    again = cli("run", "--config", str(cfg), env=env)
    assert again.returncode == 0, again.stderr
    doc = json.loads((tmp_path / "reports" / "latest" / "findings.json").read_text())
    listed = [f for f in doc["findings"] if f["status"] != "resolved"]
    assert listed and all(f["lifecycle"] == "new" for f in listed)
    assert doc["summary"]["resolved"] == 0


def test_a_damaged_tenant_row_stops_the_audit_with_one_line(tmp_path: Path,
                                                            start_simulator: Any) -> None:
    srv = start_simulator("demo")
    cfg, env = _setup(tmp_path, srv, tmp_path / "reports")
    assert cli("run", "--config", str(cfg), env=env).returncode == 0
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute("UPDATE tenants SET first_complete_audit_at = 'not a date'")
    proc = cli("run", "--config", str(cfg), env=env)
    assert proc.returncode == 3, proc.stderr
    (line,) = _errors(proc.stderr)
    assert ("state: tenants row 'acme-prod': first_complete_audit_at 'not a date' is not a "
            "date and time") in line
    statuses = _rows(tmp_path / "state.db", "SELECT status FROM runs ORDER BY id")
    assert statuses == [("complete",), ("failed",)]  # the audit that stopped, not "running"
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute("UPDATE runs SET started_at = 'not a date' WHERE status = 'complete'")
    history = cli("history", "--config", str(cfg), env=env)
    assert history.returncode == 0, history.stderr
    assert "Traceback" not in history.stderr
    assert "started_at 'not a date' is not a date and time; the run is left out" in history.stderr
    assert "failed" in history.stdout
