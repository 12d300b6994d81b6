"""The evidence views: pass/fail counts per rule and per compliance control, and their verdicts."""

from __future__ import annotations

from datetime import date

from report_factory import NOW, RULES, build_result

from auditor.engine.findings import Finding, Resource
from auditor.report.views import (
    control_views,
    exception_groups,
    natural_key,
    rule_views,
    tenant_views,
)
from auditor.result import RunResult, TenantResult

RULE_A = {"id": "R-A", "title": "A", "severity": "high", "description": "", "remediation": "",
          "compliance": {"nist-800-53-r5": ["AC-6", "AC-2"]}, "resource": "api_key"}
RULE_B = {"id": "R-B", "title": "B", "severity": "low", "description": "", "remediation": "",
          "compliance": {"nist-800-53-r5": ["AC-6"], "soc2": ["CC6.1"]}, "resource": "api_key"}
RULE_C = {"id": "R-C", "title": "C", "severity": "low", "description": "", "remediation": "",
          "compliance": {"soc2": ["CC8.1"]}, "resource": "api_key"}


def _f(rule: dict[str, object], status: str, key: int, tenant: str = "t1") -> Finding:
    return Finding(rule_id=str(rule["id"]), title="x", severity="high", status=status,  # type: ignore[arg-type]
                   tenant=tenant, resource=Resource("api_key", key, f"k{key}"), message="m",
                   remediation="r", compliance=rule["compliance"])  # type: ignore[arg-type]


def _run(findings: list[Finding], checks: dict[str, int], down: bool = False) -> RunResult:
    tenants = [TenantResult("t1", "ok", None, {"api_keys": 10})]
    if down:
        tenants.append(TenantResult("t2", "error", "HTTP 503", {}))
    return RunResult("r1", NOW, NOW, "0.1.0", tenants, findings, checks=checks)


def _controls(run: RunResult) -> dict[tuple[str, str], tuple[str, int, int, int, int, int]]:
    rules = [RULE_A, RULE_B, RULE_C]
    out = {}
    for fw in control_views(run, rules, rule_views(run, rules)):
        for c in fw.controls:
            out[(fw.key, c.control)] = (c.verdict, c.evaluated, c.passed, c.failing, c.unknown,
                                        c.muted)
    return out


def test_pass_and_fail_counts_per_control() -> None:
    run = _run([_f(RULE_A, "fail", 1), _f(RULE_A, "muted", 2), _f(RULE_A, "resolved", 3),
                _f(RULE_B, "unknown", 1)], {"R-A": 10, "R-B": 10, "R-C": 10})
    c = _controls(run)
    # AC-6 <- R-A and R-B: 20 checks; 1 fail, 1 unknown, 1 muted; the resolved one passes.
    assert c[("nist-800-53-r5", "AC-6")] == ("fail", 20, 17, 1, 1, 1)
    assert c[("nist-800-53-r5", "AC-2")] == ("fail", 10, 8, 1, 0, 1)
    assert c[("soc2", "CC6.1")] == ("unknown", 10, 9, 0, 1, 0)
    assert c[("soc2", "CC8.1")] == ("pass", 10, 10, 0, 0, 0)


def test_a_control_is_never_pass_when_a_tenant_was_not_audited_or_nothing_ran() -> None:
    c = _controls(_run([], {"R-A": 10, "R-B": 10}, down=True))
    assert c[("nist-800-53-r5", "AC-6")][0] == "incomplete"
    assert c[("soc2", "CC8.1")][0] == "not evaluated"  # R-C has no check count: it did not run


def test_rule_and_tenant_views() -> None:
    run = build_result(100)
    by_rule = {r.id: r for r in rule_views(run, RULES)}
    assert set(by_rule) == {r["id"] for r in RULES}
    for rid, view in by_rule.items():
        mine = [f for f in run.findings if f.rule_id == rid]
        assert view.tally.failing == sum(1 for f in mine if f.status == "fail")
        assert view.passed == max(run.checks[rid] - sum(
            1 for f in mine if f.status in ("fail", "unknown", "muted")), 0)
    tenants = tenant_views(run)
    assert tenants[0].status == "error"  # tenants not audited first
    assert sum(t.tally.failing for t in tenants) == run.summary()["failing"]


def test_muted_findings_grouped_by_exception_soonest_expiry_first() -> None:
    run = build_result(200)
    muted = [f for f in run.findings if f.status == "muted"]
    groups = exception_groups(muted, date(2026, 11, 26))
    assert sum(g.count for g in groups) == len(muted)
    days = [g.days_left for g in groups]
    assert days == sorted(d for d in days if d is not None)
    assert days[0] == 5


def test_natural_order_of_controls() -> None:
    controls = ["AC-17", "AC-6(5)", "AC-2", "AC-6", "5.10", "5.2"]
    assert sorted(controls, key=natural_key) == ["5.2", "5.10", "AC-2", "AC-6", "AC-6(5)",
                                                 "AC-17"]
