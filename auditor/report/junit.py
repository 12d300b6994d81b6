"""junit.xml for CI dashboards (Jenkins, GitLab, GitHub test reporters).

Shape: the Jenkins xUnit ``junit-10.xsd`` that CI systems read. One ``<testsuite>`` per tenant;
in it one ``<testcase>`` "inventory collected" (an ``<error>`` when the tenant could not be
collected, so an unaudited tenant can never look green) and one ``<testcase>`` per finding:

- ``fail``     -> ``<failure>`` (the key breaks the rule)
- ``unknown``  -> ``<error>`` (the rule could not decide: the check did not run to a verdict)
- ``muted``    -> ``<skipped>`` with the exception's owner, reason and expiry
- ``resolved`` -> a passing testcase (it failed last time and passes now)

``classname`` is ``<tenant>.<rule id>`` and ``name`` the key, so dashboards group by tenant/rule.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from auditor.engine.findings import SEVERITY_RANK, Finding
from auditor.report.base import ReportContext, atomic_text
from auditor.report.csv_report import compliance_text
from auditor.result import RunResult, TenantResult, iso

# Characters XML 1.0 cannot carry at all (even escaped): shown as visible escapes instead.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: object) -> str:
    text = "" if value is None else str(value)
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def _case_name(finding: Finding) -> str:
    res = finding.resource
    if res.type == "tenant":
        return f"tenant {res.name}"
    return f"{res.name} (key id {res.id})"


def _details(finding: Finding) -> str:
    lines = [
        f"{finding.severity.upper()} {finding.rule_id}: {finding.title}",
        f"tenant: {finding.tenant}",
        f"key: {_case_name(finding)}",
        f"status: {finding.status} ({finding.lifecycle})",
        "",
        finding.message,
    ]
    for key, value in finding.evidence.items():
        shown = ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else value
        lines.append(f"{key}: {shown}")
    if finding.remediation:
        lines += ["", f"Remediation: {finding.remediation}"]
    if finding.compliance:
        lines.append(f"Compliance: {compliance_text(finding.compliance)}")
    return xml_text("\n".join(lines))


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attrs.items()})


def _testcase(suite: ET.Element, finding: Finding) -> str:
    case = _sub(suite, "testcase", name=_case_name(finding),
                classname=f"{finding.tenant}.{finding.rule_id}", time="0")
    message = f"{finding.severity.upper()}: {finding.message}"
    if finding.status == "fail":
        _sub(case, "failure", message=message, type=finding.rule_id).text = _details(finding)
        return "failures"
    if finding.status == "unknown":
        _sub(case, "error", message=f"verdict unknown: {finding.message}",
             type=finding.rule_id).text = _details(finding)
        return "errors"
    if finding.status == "muted":
        exc = finding.exception or {}
        _sub(case, "skipped", message=(
            f"muted by exception (owner {exc.get('owner')}, expires {exc.get('expires')}): "
            f"{exc.get('reason')}"
        )).text = _details(finding)
        return "skipped"
    return "passed"


def _suite(root: ET.Element, tenant: TenantResult, findings: list[Finding],
           timestamp: str) -> None:
    suite = _sub(root, "testsuite", name=tenant.name, timestamp=timestamp, time="0")
    props = _sub(suite, "properties")
    _sub(props, "property", name="tenant.status", value=tenant.status)
    for key, count in sorted(tenant.counts.items()):
        _sub(props, "property", name=f"inventory.{key}", value=str(count))
    counts = {"failures": 0, "errors": 0, "skipped": 0, "passed": 0}
    collected = _sub(suite, "testcase", name="inventory collected",
                     classname=f"{tenant.name}.collection", time="0")
    if tenant.status == "error":
        _sub(collected, "error", message=f"tenant not audited: {tenant.error}",
             type="collection").text = xml_text(tenant.error)
        counts["errors"] += 1
    else:
        counts["passed"] += 1
    for finding in findings:
        counts[_testcase(suite, finding)] += 1
    suite.set("tests", str(sum(counts.values())))
    for key in ("failures", "errors", "skipped"):
        suite.set(key, str(counts[key]))


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
        root = ET.Element("testsuites", {"name": xml_text(f"soar-key-auditor {result.run_id}")})
        timestamp = (iso(result.started_at) or "").removesuffix("Z")
        for tenant in tenants:
            cases = sorted(by_tenant.get(tenant.name, []),
                           key=lambda f: (-SEVERITY_RANK[f.severity], f.rule_id, f.resource.name))
            _suite(root, tenant, cases, timestamp)
        for key in ("tests", "failures", "errors"):
            root.set(key, str(sum(int(s.get(key, "0")) for s in root)))
        root.set("time", "0")
        ET.indent(root)
        with atomic_text(path) as handle:
            handle.write('<?xml version="1.0" encoding="UTF-8"?>\n')
            handle.write(ET.tostring(root, encoding="unicode"))
            handle.write("\n")
