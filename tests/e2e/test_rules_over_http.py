"""Every built-in rule, judged over real loopback HTTP against the simulator's demo tenant.

The demo scenario documents the verdict each key must get (auditor/simulator/scenarios/demo.yaml):
this test holds the whole pipeline (client, shapes, facts, rules, state) to it, for failing,
passing and undecidable keys alike.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from auditor.clock import FixedClock
from auditor.config import Config, parse_config
from auditor.pipeline import run_audit
from auditor.result import RunResult
from auditor.simulator.scenario import Scenario, builtin_scenario

NIGHT_1: set[tuple[str, int, str]] = {
    ("SOAR-ENV-001", 101, "fail"), ("SOAR-ENV-001", 114, "unknown"),  # 102 passes: group has it
    ("SOAR-ENV-002", 103, "fail"), ("SOAR-ENV-002", 113, "unknown"),
    ("SOAR-ENV-003", 104, "fail"),
    ("SOAR-PG-001", 105, "fail"),
    ("SOAR-PG-002", 106, "fail"), ("SOAR-PG-002", 107, "fail"),
    ("SOAR-ROLE-001", 105, "fail"),
    ("SOAR-ROLE-002", 107, "fail"), ("SOAR-ROLE-002", 108, "fail"),
    ("SOAR-AGE-001", 105, "fail"), ("SOAR-AGE-001", 107, "fail"), ("SOAR-AGE-001", 117, "fail"),
    ("SOAR-NAME-001", 109, "fail"), ("SOAR-NAME-001", 110, "fail"), ("SOAR-NAME-001", 111, "fail"),
    ("SOAR-NAME-001", 115, "fail"), ("SOAR-NAME-001", 116, "fail"), ("SOAR-NAME-001", 117, "fail"),
    ("SOAR-NAME-001", 118, "fail"),
    ("SOAR-NAME-002", 109, "fail"), ("SOAR-NAME-002", 110, "fail"),
    # every non-system key stops working when Google retires the legacy API
    *(("SOAR-MIG-001", key, "fail") for key in range(101, 120) if key != 112),
}


def _config(srv: Any, tmp_path: Path, **params: Any) -> Config:
    return parse_config({
        "tenants": [{"name": "acme-prod", "url": srv.url, "api_key": srv.app_key}],
        "rules": {"params": {"key_name_pattern": "^[a-z0-9][a-z0-9-]*$", **params}},
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        "reports": {"dir": str(tmp_path / "reports"), "formats": ["json"]},
    }, env={})


def _verdicts(result: RunResult) -> set[tuple[str, int, str]]:
    return {(f.rule_id, f.resource.id, f.status) for f in result.findings
            if f.resource.type == "api_key" and f.resource.id is not None}


def test_every_rule_fails_passes_or_is_unknown_as_documented(tmp_path: Path, start_simulator: Any,
                                                              clock: FixedClock) -> None:
    srv = start_simulator("demo")  # on ``clock``: the keys are as old as the scenario says
    now = clock.now()
    first = run_audit(_config(srv, tmp_path), now=now - timedelta(days=1), out_dir=tmp_path / "1")
    assert first.status == "complete"
    assert _verdicts(first) == NIGHT_1
    # The system key (112) is skipped by every rule; key 119 (plural-only groups, both with All
    # Environments) passes everything but the legacy API's retirement.
    assert not [v for v in _verdicts(first) if v[1] == 112]
    assert [v for v in _verdicts(first) if v[1] == 119] == [("SOAR-MIG-001", 119, "fail")]

    # Night 2: the tenant changed (new environment and key, 108 widened, 104 fixed, 107 deleted).
    srv.set_phase("after")
    second = run_audit(_config(srv, tmp_path), now=now, out_dir=tmp_path / "2")
    verdicts = _verdicts(second)
    assert ("SOAR-CHG-001", 120, "fail") in verdicts
    assert ("SOAR-CHG-002", 108, "fail") in verdicts
    assert ("SOAR-ENV-002", 108, "fail") in verdicts           # now "*" without All Environments
    assert ("SOAR-ENV-003", 104, "resolved") in verdicts       # the stale environment was removed
    assert ("SOAR-PG-002", 107, "resolved") in verdicts        # the key was deleted
    assert not [v for v in verdicts if v[0].startswith("SOAR-CHG") and v[1] != 120 and v[1] != 108]
    env001 = next(f for f in second.findings
                  if f.rule_id == "SOAR-ENV-001" and f.resource.id == 101)
    assert "Acme LATAM" in str(env001.evidence), env001.evidence
    assert env001.lifecycle == "open"

    # With all the system keys included, the system key is judged too.
    third = run_audit(_config(srv, tmp_path, include_system_keys=True),
                      now=now + timedelta(hours=1), out_dir=tmp_path / "3")
    assert [v for v in _verdicts(third) if v[1] == 112]


def test_missing_creation_time_makes_the_age_rule_unknown(tmp_path: Path, start_simulator: Any,
                                                          clock: FixedClock) -> None:
    data = builtin_scenario("demo").to_dict()
    for key in data["api_keys"]:
        if key["id"] == 119:
            key.pop("created_days_ago", None)
            key.pop("creationTimeUnixTimeInMs", None)
    srv = start_simulator(Scenario.from_dict(data))
    result = run_audit(_config(srv, tmp_path), out_dir=tmp_path / "out", clock=clock)
    assert result.started_at == clock.now()
    assert ("SOAR-AGE-001", 119, "unknown") in _verdicts(result)


def test_audits_started_in_the_same_second_get_distinct_run_ids(tmp_path: Path,
                                                                 start_simulator: Any) -> None:
    srv = start_simulator("demo")
    config = _config(srv, tmp_path)  # run ids from the system clock, which moves on
    first = run_audit(config, out_dir=tmp_path / "a")
    second = run_audit(config, out_dir=tmp_path / "b")
    assert first.run_id != second.run_id
    assert first.status == second.status == "complete"
