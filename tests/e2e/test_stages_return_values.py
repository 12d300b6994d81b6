"""The stages of an audit take values and return new ones: exceptions and lifecycle planning
change nothing they are given; the planned run is ordered and counted once, and it is exactly
what the store keeps (notes added after recording included)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from auditor.engine.exceptions import parse_exceptions, waive
from auditor.engine.findings import Finding, Resource
from auditor.result import RunResult, TenantResult, finding_order, ordered, summarize
from auditor.soar.models import Inventory
from auditor.state import open_store

T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


def _finding(rule: str, key: int, severity: str = "high", status: str = "fail",
             tenant: str = "acme") -> Finding:
    return Finding(rule_id=rule, title=f"title of {rule}", severity=severity,  # type: ignore[arg-type]
                   status=status, tenant=tenant,  # type: ignore[arg-type]
                   resource=Resource("api_key", key, f"Key-{key}"), message=f"{rule} on {key}",
                   remediation="fix it", evidence={"key": key})


def _run(at: datetime, findings: list[Finding]) -> RunResult:
    inventory = Inventory(tenant="acme", collected_at=at, environments=(),
                          permission_groups=(), soc_roles=(), api_keys=())
    return RunResult(run_id=at.strftime("%Y%m%dT%H%M%SZ"), started_at=at,
                     finished_at=at + timedelta(seconds=2), tool_version="t",
                     tenants=[TenantResult("acme", "ok", None, inventory.counts())],
                     findings=findings, inventories={"acme": inventory})


def _snapshot(findings: list[Finding]) -> str:
    return json.dumps([f.to_dict() for f in findings], sort_keys=True)


def test_waive_returns_new_findings_and_leaves_the_given_ones() -> None:
    given = [_finding("SOAR-PG-001", 1), _finding("SOAR-PG-001", 2), _finding("SOAR-AGE-001", 3)]
    before = _snapshot(given)
    entries = parse_exceptions("- {rule: SOAR-PG-001, key: Key-1, reason: r, owner: o, "
                               "expires: 2027-01-01}\n")
    waived, status = waive(given, entries, date(2026, 1, 5))
    assert _snapshot(given) == before
    assert [f.status for f in waived] == ["muted", "fail", "fail"]
    assert waived[0] is not given[0] and waived[0].exception is not None
    assert status.unused == [] and status.expired == []


def test_the_planned_run_is_ordered_counted_and_stored_as_is(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as store:
        first = _run(T0, [_finding("SOAR-PG-001", 1), _finding("SOAR-AGE-001", 2, "medium")])
        plan = store.plan_run(first)
        assert plan.result is not None
        store.record_run(plan.result, plan)
        given = [_finding("SOAR-AGE-001", 2, "medium"), _finding("SOAR-NAME-001", 4, "low"),
                 _finding("SOAR-ENV-001", 5, "critical", status="unknown"),
                 _finding("SOAR-PG-002", 6, "critical")]
        second = _run(T0 + timedelta(days=1), given)
        before = _snapshot(given)
        plan = store.plan_run(second)
        planned = plan.result
        assert planned is not None
        # Nothing given changed: no lifecycle set, no resolved finding appended, no reorder.
        assert _snapshot(second.findings) == before and second.findings == given
        assert all(f.first_seen is None for f in given)
        assert [(f.rule_id, f.lifecycle) for f in planned.findings] == [
            ("SOAR-PG-002", "new"), ("SOAR-AGE-001", "open"), ("SOAR-NAME-001", "new"),
            ("SOAR-ENV-001", "new"), ("SOAR-PG-001", "resolved")]
        assert planned.findings == ordered(planned.findings)
        assert planned.summary() == summarize(planned.findings)
        assert planned.summary()["resolved"] == 1 and planned.summary()["new"] == 3
        store.record_run(planned, plan)
        stored = store.load_run(planned.run_id)
        assert stored.to_dict() == planned.to_dict()
        noted = store.add_run_notes(planned.run_id, ["Slack: HTTP 500"])
        assert noted.notes == ["Slack: HTTP 500"]
        assert store.load_run(planned.run_id).to_dict() == {**planned.to_dict(),
                                                           "notes": ["Slack: HTTP 500"]}


def test_a_copy_with_other_findings_counts_its_own_summary() -> None:
    counted = _run(T0, [_finding("SOAR-PG-001", 1), _finding("SOAR-AGE-001", 2)]).counted()
    assert counted.summary()["failing"] == 2
    from dataclasses import replace

    narrowed = replace(counted, findings=counted.findings[:1])
    assert narrowed.summary()["failing"] == 1


def test_the_orders_live_in_one_place() -> None:
    from auditor.notify import digest
    from auditor.report import views

    assert views.finding_order is finding_order("report")
    assert digest._sort_key is finding_order("alert")
    items = [_finding("SOAR-B", 1, "low"), _finding("SOAR-A", 2, "critical", status="unknown"),
             _finding("SOAR-A", 3, "high")]
    assert [f.resource.id for f in ordered(items)] == [3, 1, 2]
    assert [f.resource.id for f in ordered(items, "report")] == [2, 3, 1]
