"""junit.xml for CI dashboards (Jenkins, GitLab, GitHub test reporters).

Shape: the Jenkins xUnit ``junit-10.xsd`` that CI systems read. One ``<testsuite>`` per tenant;
in it one ``<testcase>`` "inventory collected" (an ``<error>`` when the tenant could not be
collected, so an unaudited tenant can never look green) and one ``<testcase>`` per rule evaluated
on that tenant (``classname`` ``<tenant>.<rule id>``, ``name`` ``<rule id>: <title>``: the same
in every run, so a dashboard tracks each check over time). A rule that passes on every resource
it checked is a passing test case; otherwise its case carries, for all its findings there:

- a ``<failure>`` when a resource fails the rule (the body: each failing resource with its
  evidence as ``key: value`` lines, the remediation and the compliance mapping);
- else an ``<error>`` when the rule could not decide for some resource (``unknown``);
- else ``<skipped>`` when every finding is muted by an exception (owner, reason, expiry).

Each case's ``<system-out>`` says how many resources the rule checked there (report/coverage.py;
the run's total when the tenant's share cannot be told), how many pass, fail, are unknown or
muted, and which resolved since the last audit. ``time``: the run's duration on
``<testsuites>``; the auditor does not time tenants or rules, so suites and cases have no
``time`` (optional in junit-10.xsd) rather than a made-up 0.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

from auditor.engine.findings import SEVERITY_RANK, Finding
from auditor.report import coverage, evidence
from auditor.report.base import ReportContext, atomic_text
from auditor.report.csv_report import compliance_text
from auditor.report.views import natural_key
from auditor.result import RunResult, TenantResult, iso

# Characters XML 1.0 cannot carry at all (even escaped): shown as visible escapes instead.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
LISTED = 200  # findings written out in one case's body; the rest are counted
NAMED = 5  # resources named in a failure's one-line message


def xml_text(value: object) -> str:
    text = "" if value is None else str(value)
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def resource_label(finding: Finding) -> str:
    res = finding.resource
    if res.type == "tenant":
        return f"tenant {res.name}"
    if res.type == "api_key":
        return f"{res.name} (key id {res.id})"
    if res.type == "idp_mapping":
        return f"{res.name} (Group Mapping entry {res.id})"
    return str(res.name)


def details(finding: Finding) -> str:
    """One finding, readable: what, where, the evidence as ``key: value`` lines, the fix."""
    lines = [
        f"{finding.severity.upper()} {finding.rule_id}: {finding.title}",
        f"tenant: {finding.tenant}",
        f"resource: {resource_label(finding)}",
        f"status: {finding.status} ({finding.lifecycle})",
        "",
        finding.message,
    ]
    if finding.evidence:
        lines += ["", "evidence:", *evidence.lines(finding.evidence, "  ")]
    if finding.exception:
        lines += ["", "exception:", *evidence.lines(finding.exception, "  ")]
    if finding.remediation:
        lines += ["", f"remediation: {finding.remediation}"]
    if finding.compliance:
        lines.append(f"compliance: {compliance_text(finding.compliance)}")
    return "\n".join(lines)


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})


def _names(findings: list[Finding]) -> str:
    shown = ", ".join(resource_label(f) for f in findings[:NAMED])
    more = len(findings) - NAMED
    return shown + (f" and {more} more" if more > 0 else "")


def _body(findings: list[Finding]) -> str:
    text = "\n\n".join(details(f) for f in findings[:LISTED])
    if len(findings) > LISTED:
        text += f"\n\n…and {len(findings) - LISTED} more (findings.json lists them all)."
    return xml_text(text)


def _summary(findings: list[Finding], checked: int | None, total: int | None) -> str:
    by: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by[f.status].append(f)
    bad = len(by["fail"]) + len(by["unknown"]) + len(by["muted"])
    if checked is not None:
        head = (f"{checked} resource(s) checked in this tenant: {max(checked - bad, 0)} pass, "
                f"{len(by['fail'])} fail, {len(by['unknown'])} unknown, {len(by['muted'])} muted.")
    else:
        head = (f"{'not recorded' if total is None else total} resource(s) checked in all "
                f"tenants of this run; in this tenant {len(by['fail'])} fail, "
                f"{len(by['unknown'])} unknown, {len(by['muted'])} muted.")
    if by["resolved"]:
        head += f"\nResolved since the last audit: {_names(by['resolved'])}."
    return xml_text(head)


def _rule_case(suite: ET.Element, tenant: str, rule_id: str, title: str,
               findings: list[Finding], checked: int | None, total: int | None) -> str:
    case = _sub(suite, "testcase", name=f"{rule_id}: {title}", classname=f"{tenant}.{rule_id}")
    by: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by[f.status].append(f)
    kind = "passed"
    if by["fail"]:
        worst = max(by["fail"], key=lambda f: SEVERITY_RANK.get(f.severity, 0)).severity
        _sub(case, "failure", type=rule_id, message=(
            f"{worst.upper()}: {len(by['fail'])} resource(s) fail {rule_id}: "
            f"{_names(by['fail'])}")).text = _body(by["fail"] + by["unknown"] + by["muted"])
        kind = "failures"
    elif by["unknown"]:
        _sub(case, "error", type=rule_id, message=(
            f"verdict unknown for {len(by['unknown'])} resource(s): {_names(by['unknown'])}"
        )).text = _body(by["unknown"] + by["muted"])
        kind = "errors"
    elif by["muted"]:
        exc = by["muted"][0].exception or {}
        _sub(case, "skipped", message=(
            f"{len(by['muted'])} finding(s) muted by exception (owner {exc.get('owner')}, "
            f"expires {exc.get('expires')}): {exc.get('reason')}")).text = _body(by["muted"])
        kind = "skipped"
    _sub(case, "system-out").text = _summary(findings, checked, total)
    return kind


def _runs_on(tenant: TenantResult, rule_id: str, entry: dict[str, Any] | None,
             counts: dict[str, int] | None) -> bool:
    """Whether the rule was evaluated on the tenant (its findings aside)."""
    if counts is not None:
        return tenant.name in counts
    if tenant.status == "error":
        checks = (entry or {}).get("checks") or [{"resource": (entry or {}).get("resource")}]
        return bool(checks) and checks[0].get("resource") == "tenant"
    return rule_id not in tenant.not_applicable


def _suite(root: ET.Element, tenant: TenantResult, findings: list[Finding], timestamp: str,
           result: RunResult, catalog: dict[str, dict[str, Any]],
           counts: dict[str, dict[str, int]]) -> None:
    suite = _sub(root, "testsuite", name=tenant.name, timestamp=timestamp)
    props = _sub(suite, "properties")
    _sub(props, "property", name="tenant.status", value=tenant.status)
    for key, count in sorted(tenant.counts.items()):
        _sub(props, "property", name=f"inventory.{key}", value=str(count))
    tally = {"failures": 0, "errors": 0, "skipped": 0, "passed": 0}
    collected = _sub(suite, "testcase", name="inventory collected",
                     classname=f"{tenant.name}.collection")
    if tenant.status == "error":
        _sub(collected, "error", message=f"tenant not audited: {tenant.error}",
             type="collection").text = xml_text(tenant.error)
        tally["errors"] += 1
    else:
        tally["passed"] += 1
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_rule[f.rule_id].append(f)
    rule_ids = set(by_rule) | {r for r in result.checks if _runs_on(
        tenant, r, catalog.get(r), counts.get(r))}
    for rule_id in sorted(rule_ids, key=natural_key):
        cases = by_rule.get(rule_id, [])
        title = cases[0].title if cases else str(catalog.get(rule_id, {}).get("title", ""))
        tally[_rule_case(suite, tenant.name, rule_id, title or rule_id, cases,
                         counts.get(rule_id, {}).get(tenant.name),
                         result.checks.get(rule_id))] += 1
    suite.set("tests", str(sum(tally.values())))
    for key in ("failures", "errors", "skipped"):
        suite.set(key, str(tally[key]))


class JunitReporter:
    name = "junit"
    filename = "junit.xml"

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None:
        by_tenant: dict[str, list[Finding]] = defaultdict(list)
        for finding in result.findings:
            by_tenant[finding.tenant].append(finding)
        tenants = list(result.tenants)
        known = {t.name for t in tenants}
        # Findings about a tenant the run does not list still get a suite (never dropped).
        tenants += [TenantResult(name=n, status="ok", error=None, counts={})
                    for n in by_tenant if n not in known]
        catalog = {str(r.get("id", "")): r for r in context.rules}
        counts = coverage.per_tenant(result, context.rules)
        root = ET.Element("testsuites", {"name": xml_text(f"soar-key-auditor {result.run_id}")})
        timestamp = (iso(result.started_at) or "").removesuffix("Z")
        for tenant in tenants:
            cases = sorted(by_tenant.get(tenant.name, []),
                           key=lambda f: (-SEVERITY_RANK[f.severity], f.resource.name))
            _suite(root, tenant, cases, timestamp, result, catalog, counts)
        for key in ("tests", "failures", "errors"):
            root.set(key, str(sum(int(s.get(key, "0")) for s in root)))
        if result.finished_at is not None:
            seconds = max((result.finished_at - result.started_at).total_seconds(), 0.0)
            root.set("time", f"{seconds:.3f}")
        ET.indent(root)
        with atomic_text(path) as handle:
            handle.write('<?xml version="1.0" encoding="UTF-8"?>\n')
            handle.write(ET.tostring(root, encoding="unicode"))
            handle.write("\n")
