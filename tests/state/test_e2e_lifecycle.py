"""Lifecycle and change rules end to end: audits of the simulator (real HTTP, the real pipeline)
whose tenant changes between them, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from auditor.config import Config, parse_config
from auditor.engine.findings import Finding
from auditor.result import RunResult
from auditor.simulator.server import SimulatorServer
from auditor.state import Store
from tests.conftest import TEST_NOW

NOW = TEST_NOW  # the simulators' clock (conftest): audits are dated by it too


def config_for(srv: SimulatorServer, state: str, reports: Path) -> Config:
    return parse_config(
        {
            "tenants": [
                {"name": "acme-prod", "url": srv.url, "api_key": srv.app_key, "timeout_seconds": 5}
            ],
            "rules": {"params": {"key_name_pattern": "^[a-z0-9][a-z0-9-]*$"}},
            "state": state,
            "reports": {"dir": str(reports), "formats": ["json"]},
        },
        env={},
    )


def audit(config: Config, store: Store, day: int, out: Path) -> RunResult:
    from auditor.pipeline import run_audit

    return run_audit(
        config, store=store, now=NOW + timedelta(days=day), out_dir=out / f"day-{day}", notify=False
    )


def one(result: RunResult, rule: str, key: int | None) -> Finding:
    found = [f for f in result.findings if f.rule_id == rule and f.resource.id == key]
    assert len(found) == 1, f"{rule} on {key}: {[(f.status, f.lifecycle) for f in found]}"
    return found[0]


def states(result: RunResult) -> dict[tuple[str, int | None], tuple[str, str]]:
    return {(f.rule_id, f.resource.id): (f.status, f.lifecycle) for f in result.findings}


def test_every_transition_and_both_change_rules(
    start_simulator: Any, store: Store, store_url: str, tmp_path: Path
) -> None:
    srv = start_simulator("demo")
    config = config_for(srv, store_url, tmp_path)
    day0 = NOW

    # Audit 1: the tenant as it was. Everything is new; no change rule without an earlier audit.
    first = audit(config, store, 0, tmp_path)
    assert first.status == "complete"
    assert {f.lifecycle for f in first.findings} == {"new"}
    assert all(f.first_seen == day0 for f in first.findings)
    assert not [f for f in first.findings if f.rule_id.startswith("SOAR-CHG")]
    s1 = states(first)
    assert s1[("SOAR-ENV-003", 104)] == ("fail", "new")
    assert s1[("SOAR-PG-002", 107)] == ("fail", "new")

    # An admin changes the tenant: new environment, new key 120, key 108 widened to "*",
    # key 104 fixed, key 107 deleted.
    srv.set_phase("after")
    second = audit(config, store, 1, tmp_path)
    s2 = states(second)
    chg1 = one(second, "SOAR-CHG-001", 120)
    assert (chg1.status, chg1.lifecycle) == ("fail", "new")
    chg2 = one(second, "SOAR-CHG-002", 108)
    assert (chg2.status, chg2.lifecycle) == ("fail", "new")
    assert chg2.evidence["scope_before"]["environments"] == ["Acme HQ"]
    assert chg2.evidence["scope_after"]["environments"] == ["*"]
    assert chg2.evidence["became_wildcard"] is True
    assert s2[("SOAR-ENV-003", 104)] == ("resolved", "resolved")  # fixed
    # key 107 deleted (its legacy-API deadline too)
    for rule in ("SOAR-PG-002", "SOAR-ROLE-002", "SOAR-AGE-001", "SOAR-MIG-001"):
        gone = one(second, rule, 107)
        assert (gone.status, gone.lifecycle) == ("resolved", "resolved")
        assert gone.evidence["key_deleted"] is True
        assert gone.first_seen == day0
    snapshot = one(second, "SOAR-ENV-001", 101)
    assert (snapshot.status, snapshot.lifecycle) == ("fail", "open")
    assert snapshot.first_seen == day0
    # The new environment's creation time comes from history: key 101 does not cover it.
    assert snapshot.evidence["missing_environments"] == ["Acme LATAM"]
    assert one(second, "SOAR-PG-001", 105).lifecycle == "open"
    assert second.summary()["resolved"] == 5

    # Back to the old state: the fixed and deleted findings come back (reopened), the change
    # findings of audit 2 resolve, key 107 is new again to the change rule.
    srv.set_phase("base")
    third = audit(config, store, 2, tmp_path)
    s3 = states(third)
    reopened = one(third, "SOAR-ENV-003", 104)
    assert (reopened.status, reopened.lifecycle) == ("fail", "reopened")
    assert reopened.first_seen == day0
    assert s3[("SOAR-PG-002", 107)] == ("fail", "reopened")
    assert s3[("SOAR-CHG-001", 120)] == ("resolved", "resolved")
    assert s3[("SOAR-CHG-002", 108)] == ("resolved", "resolved")
    assert s3[("SOAR-CHG-001", 107)] == ("fail", "new")
    assert s3[("SOAR-ENV-001", 101)] == ("fail", "open")

    # The tenant cannot be collected: only the audit finding, nothing resolved or new.
    srv.set_faults([{"endpoint": "*", "status": 503}])
    fourth = audit(config, store, 3, tmp_path)
    assert fourth.status == "failed"
    assert states(fourth) == {("SOAR-AUDIT-001", None): ("fail", "new")}

    # Collected again: compared with audit 3 (the last complete one), not with the failure.
    srv.set_faults([])
    fifth = audit(config, store, 4, tmp_path)
    s5 = states(fifth)
    assert s5[("SOAR-AUDIT-001", None)] == ("resolved", "resolved")
    assert s5[("SOAR-CHG-001", 107)] == ("resolved", "resolved")  # 107 is no longer new
    listed = {k: v for k, v in s5.items() if v[0] != "resolved"}
    assert listed and {lc for _, lc in listed.values()} == {"open"}
    assert one(fifth, "SOAR-ENV-003", 104).first_seen == day0

    history = store.history()
    assert [h.status for h in history] == ["complete", "failed", "complete", "complete", "complete"]
    assert [h.new for h in history][::-1] == [
        first.summary()["new"],
        second.summary()["new"],
        third.summary()["new"],
        1,
        0,
    ]
    assert store.load_run(second.run_id).to_dict()["summary"]["resolved"] == 5


@pytest.mark.parametrize("phase_first", ["after"])
def test_history_feeds_the_change_rules_only_from_complete_audits(
    start_simulator: Any, store: Store, store_url: str, tmp_path: Path, phase_first: str
) -> None:
    """A failed audit in between does not become the baseline of the change rules."""
    srv = start_simulator("demo")
    config = config_for(srv, store_url, tmp_path)
    audit(config, store, 0, tmp_path)
    srv.set_faults([{"endpoint": "*", "status": 503}])
    audit(config, store, 1, tmp_path)
    srv.set_faults([])
    srv.set_phase(phase_first)
    third = audit(config, store, 2, tmp_path)
    assert one(third, "SOAR-CHG-001", 120).lifecycle == "new"
    assert one(third, "SOAR-CHG-002", 108).evidence["scope_before"]["environments"] == ["Acme HQ"]


def test_audit_killed_midway_leaves_no_trace(
    start_simulator: Any, store: Store, store_url: str, tmp_path: Path
) -> None:
    """An audit process SIGKILLed while it collects from a slow tenant: the store keeps no half
    run, the lock is free again, and the next audit compares with the last finished one."""
    import os
    import signal
    import subprocess
    import sys
    import time

    srv = start_simulator("demo")
    config = config_for(srv, store_url, tmp_path)
    first = audit(config, store, 0, tmp_path)

    cfg = tmp_path / "auditor.yaml"
    cfg.write_text(
        "tenants:\n  - name: acme-prod\n    url: ${SIM_URL}\n    api_key: ${SIM_KEY}\n"
        "state: ${SIM_STATE}\nreports:\n  dir: reports\n  formats: [json]\n"
    )
    env = dict(os.environ, SIM_URL=srv.url, SIM_KEY=srv.app_key, SIM_STATE=store_url)
    srv.set_latency_ms(1000)  # each answer takes a second: the audit cannot finish
    srv.clear_log()
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from auditor.config import load_config\n"
        "from datetime import datetime\n"
        "from auditor.pipeline import run_audit\n"
        "run_audit(load_config(sys.argv[1]), out_dir=Path(sys.argv[2]), notify=False,\n"
        "          now=datetime.fromisoformat(sys.argv[3]))\n"
    )
    between = NOW + timedelta(hours=12)  # after the first audit, before the second
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(cfg), str(tmp_path / "killed"), between.isoformat()],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not srv.request_log and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert child.poll() is None, child.stderr.read() if child.stderr else ""
        assert srv.request_log  # it is collecting, holding the audit lock
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    srv.set_latency_ms(0)

    # The killed audit left its "running" row and nothing else (no tenant, no finding).
    rows = store.history()
    assert [(h.status, len(h.tenants)) for h in rows] == [("running", 0), ("complete", 1)]
    killed = rows[0].run_id
    started = time.monotonic()
    second = audit(config, store, 1, tmp_path)  # takes the lock the dead process held
    assert time.monotonic() - started < 15
    assert second.status == "complete"
    assert {f.lifecycle for f in second.findings} == {"open"}  # compared with the first audit
    assert [(h.run_id, h.status) for h in store.history()] == [
        (second.run_id, "complete"),
        (killed, "interrupted"),
        (first.run_id, "complete"),
    ]
    assert [p.run_id for p in store.runs()] == [second.run_id, first.run_id]
    assert not (tmp_path / "killed" / "findings.json").exists()
