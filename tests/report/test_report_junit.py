"""junit.xml validates against the JUnit shape CI systems read (Jenkins xUnit junit-10.xsd).

The XSD's rules are restated below as data (no XML-schema library is a dependency): which
elements may appear where, their allowed and required attributes, which may hold text, and the
SUREFIRE_TIME pattern of ``time``. On top, the counts CI dashboards trust must add up, passing
checks are test cases, and each case's count of resources checked is the engine's own.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from report_factory import HOSTILE, NOW, RULES, build_result

from auditor.config import RuleParams
from auditor.engine.evaluate import (
    evaluate_tenant,
    not_applicable,
    resources_checked,
    tenant_not_audited,
)
from auditor.engine.rules import builtin_rules
from auditor.report import ReportContext
from auditor.result import RunResult, TenantResult
from auditor.soar.models import (
    ApiKey,
    Environment,
    IamBinding,
    IdpMapping,
    Inventory,
    PermissionGroup,
    SocRole,
)

RESULT_KINDS = {"skipped", "error", "failure"}
RERUN = {"rerunFailure", "rerunError", "flakyFailure", "flakyError"}
XSD: dict[str, dict[str, Any]] = {
    "testsuites": {"attrs": {"name", "time", "tests", "failures", "errors"}, "required": set(),
                   "children": {"testsuite"}, "text": False},
    "testsuite": {"attrs": {"name", "tests", "failures", "errors", "group", "time", "skipped",
                            "timestamp", "hostname", "id", "package", "file", "log", "url"},
                  "required": {"name", "tests", "failures", "errors"},
                  "children": {"testsuite", "properties", "testcase", "system-out", "system-err"},
                  "text": False},
    "properties": {"attrs": set(), "required": set(), "children": {"property"}, "text": False},
    "property": {"attrs": {"name", "value"}, "required": {"name", "value"}, "children": set(),
                 "text": False},
    "testcase": {"attrs": {"name", "time", "classname", "group"}, "required": {"name"},
                 "children": RESULT_KINDS | RERUN | {"system-out", "system-err"}, "text": False},
    **{k: {"attrs": {"type", "message"}, "required": set(), "children": set(), "text": True}
       for k in RESULT_KINDS},
    "system-out": {"attrs": set(), "required": set(), "children": set(), "text": True},
    "system-err": {"attrs": set(), "required": set(), "children": set(), "text": True},
}
SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?")


def validate(elem: ET.Element, path: str = "") -> None:
    where = f"{path}/{elem.tag}"
    rule = XSD.get(elem.tag)
    assert rule is not None, f"{where}: element not in junit-10.xsd"
    attrs = set(elem.attrib)
    assert attrs <= rule["attrs"], f"{where}: attributes {attrs - rule['attrs']} not allowed"
    assert rule["required"] <= attrs, f"{where}: missing {rule['required'] - attrs}"
    if elem.tag in ("testsuite", "testsuites") and "time" in elem.attrib:
        assert SUREFIRE_TIME.fullmatch(elem.attrib["time"]), f"{where}: bad time"
    # Never a made-up duration: the auditor times the run, not tenants or rules.
    assert elem.attrib.get("time") != "0", f"{where}: time=0"
    if elem.tag in ("testsuite", "testcase"):
        assert "time" not in elem.attrib, f"{where}: a duration the auditor did not measure"
    if not rule["text"]:
        assert not (elem.text or "").strip(), f"{where}: text not allowed"
    for child in elem:
        assert child.tag in rule["children"], f"{where}: <{child.tag}> not allowed here"
        assert not (child.tail or "").strip(), f"{where}: text not allowed"
        validate(child, where)


def check_counts(root: ET.Element) -> None:
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        counts = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None),
        }
        for key, value in counts.items():
            assert int(suite.attrib[key]) == value, (suite.attrib["name"], key)
        for key in totals:
            totals[key] += counts[key]
        for case in cases:
            assert len([c for c in case if c.tag in RESULT_KINDS]) <= 1
    for key, value in totals.items():
        assert int(root.attrib[key]) == value


def _parse(path: Path) -> ET.Element:
    raw = path.read_bytes()
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    return ET.fromstring(raw)  # noqa: S314 - our own output


CASE_NAME = re.compile(r"(?P<rule>[A-Z][A-Z0-9]*(-[A-Z0-9]+)+): .+")
CHECKED = re.compile(r"(\d+) resource\(s\) checked in this tenant: (\d+) pass, (\d+) fail")


def _cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    """(tenant, rule id) -> its test case."""
    out = {}
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            if case.attrib["name"] != "inventory collected":
                match = CASE_NAME.fullmatch(case.attrib["name"])
                assert match, case.attrib["name"]
                assert case.attrib["classname"] == f"{suite.attrib['name']}.{match['rule']}"
                out[(suite.attrib["name"], match["rule"])] = case
    return out


def test_validates_against_the_junit_schema_shape(
        hostile: RunResult, write: Callable[..., Path]) -> None:
    root = _parse(write(hostile, "junit"))
    assert root.tag == "testsuites"
    validate(root)
    check_counts(root)
    assert root.attrib["time"] == "42.000"  # the run's own duration


def test_one_case_per_rule_per_tenant_passing_ones_included(
        result: RunResult, write: Callable[..., Path]) -> None:
    root = _parse(write(result, "junit"))
    suites = {s.attrib["name"]: s for s in root.iter("testsuite")}
    assert set(suites) == {t.name for t in result.tenants}
    cases = _cases(root)
    for tenant in (t for t in result.tenants if t.status == "ok"):
        ran = {r for r in result.checks}
        assert {rule for (t, rule) in cases if t == tenant.name} == ran
    by_case: dict[tuple[str, str], list[str]] = {}
    for f in result.findings:
        by_case.setdefault((f.tenant, f.rule_id), []).append(f.status)
    passing = [key for key, case in cases.items() if not [c for c in case if c.tag in RESULT_KINDS]]
    assert passing, "passing checks are test cases"
    for key, case in cases.items():
        statuses = by_case.get(key, [])
        kinds = [c.tag for c in case if c.tag in RESULT_KINDS]
        expected = (["failure"] if "fail" in statuses else ["error"] if "unknown" in statuses
                    else ["skipped"] if "muted" in statuses else [])
        assert kinds == expected, (key, statuses, kinds)
        out = case.find("system-out")
        assert out is not None and "resource(s) checked" in (out.text or "")
    for f in result.findings:
        case = cases[(f.tenant, f.rule_id)]
        if f.status == "fail":
            body = case.find("failure")
            assert body is not None and f.remediation in (body.text or "")
            assert f.resource.name in (body.text or "")
        if f.status == "muted" and "fail" not in by_case[(f.tenant, f.rule_id)] \
                and "unknown" not in by_case[(f.tenant, f.rule_id)]:
            skipped = case.find("skipped")
            assert skipped is not None
            assert f.exception is not None and f.exception["owner"] in (skipped.text or "")


def test_failure_bodies_are_readable_evidence_not_python_reprs(
        result: RunResult, write: Callable[..., Path]) -> None:
    root = _parse(write(result, "junit"))
    bodies = [e.text or "" for e in root.iter() if e.tag in RESULT_KINDS]
    assert bodies
    for body in bodies:
        assert "{'" not in body and "['" not in body and "None" not in body, body[:400]
    text = "\n".join(bodies)
    assert "\n  environments: " in text  # key: value lines under "evidence:"
    assert re.search(r"\n  groups: (Admins|SOC Analysts|Automation) \(id: 3, "
                     r"all environments: (no|unknown)\)", text)


def test_a_tenant_not_audited_is_an_error_never_green(
        result: RunResult, write: Callable[..., Path]) -> None:
    root = _parse(write(result, "junit"))
    down = next(t for t in result.tenants if t.status == "error")
    suite = next(s for s in root.iter("testsuite") if s.attrib["name"] == down.name)
    case = next(c for c in suite.iter("testcase") if c.attrib["name"] == "inventory collected")
    error = case.find("error")
    assert error is not None and "HTTP 503" in error.attrib["message"]
    assert int(suite.attrib["errors"]) >= 1
    # Only the rule about the tenant as a whole ran there: no key rule passes on it.
    names = [c.attrib["classname"] for c in suite.iter("testcase")]
    assert names == [f"{down.name}.collection", f"{down.name}.SOAR-AUDIT-001"]


def test_characters_xml_cannot_hold_are_shown_escaped(write: Callable[..., Path]) -> None:
    res = build_result(10, hostile=True)
    text = write(res, "junit").read_text(encoding="utf-8")
    assert "\x00" not in text and "\x1b" not in text
    assert "\\u001b[31mred\\u0000nul" in text
    root = _parse(write(res, "junit"))
    bodies = "\n".join(e.text or "" for e in root.iter() if e.tag in RESULT_KINDS)
    assert HOSTILE[1] in bodies  # </script>... kept exactly, escaped by the XML writer


# -- the count of each case is the engine's own ------------------------------------------------
def _key(i: int, **kw: object) -> ApiKey:
    values: dict[str, object] = {"id": i, "name": f"svc-{i}", "is_system": False,
                                 "group_ids": (2,), "role_ids": (2,),
                                 "environments": ("EMEA",), "created_at": NOW}
    values.update(kw)
    return ApiKey(**values)  # type: ignore[arg-type]


def _inventory(name: str, keys: int, *, chronicle: bool = False) -> Inventory:
    api_keys = (*(_key(i) for i in range(keys)), _key(900, name="system", is_system=True),
                _key(901, group_ids=(1,)), _key(902, environments=("EMEA", "APAC")))
    extra: dict[str, object] = {}
    if chronicle:
        extra = {"surfaces": ("legacy", "chronicle", "iam"),
                 "mappings": tuple(IdpMapping(f"projects/p/g/{i}", f"map {i}",
                                              (f"group:g{i}@x.example",), (2,), ("EMEA",))
                                   for i in range(3)),
                 "iam_bindings": (IamBinding("roles/owner",
                                             ("serviceAccount:a@p.iam.gserviceaccount.com",
                                              "user:b@x.example")),)}
    return Inventory(name, NOW, (Environment("EMEA", 1), Environment("APAC", 2)),
                     (PermissionGroup(1, "Admins", True), PermissionGroup(2, "SOC", False)),
                     (SocRole(1, "Administrator"), SocRole(2, "Tier 1")), api_keys,
                     **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("system_keys", [False, True])
def test_each_case_counts_the_resources_the_engine_checked_in_that_tenant(
        system_keys: bool, write: Callable[..., Path]) -> None:
    # What the pipeline's evaluate stage does with the engine: findings and checked counts per
    # collected tenant, SOAR-AUDIT-001 (and one check of each tenant rule) for the one that failed.
    params = RuleParams(include_system_keys=system_keys)
    rules = builtin_rules()
    inventories = {"legacy-only": _inventory("legacy-only", 7),
                   "full": _inventory("full", 12, chronicle=True)}
    tenants, findings, checks = [], [], {}
    for name, inv in inventories.items():
        findings += evaluate_tenant(inv, None, rules, params, NOW)
        for rule_id, n in resources_checked(inv, rules, params).items():
            checks[rule_id] = checks.get(rule_id, 0) + n
        tenants.append(TenantResult(name, "ok", None, inv.counts(), auth=inv.auth,
                                    not_applicable=not_applicable(inv, rules),
                                    surfaces=list(inv.surfaces)))
    findings.append(tenant_not_audited("down", "HTTP 503", rules))
    for rule in rules:
        if rule.resource == "tenant":
            checks[rule.id] = checks.get(rule.id, 0) + 1
    tenants.append(TenantResult("down", "error", "HTTP 503", {}))
    res = RunResult("20261126T020000Z", NOW, NOW, "0.1.0", tenants, findings,
                    inventories=inventories, checks=checks)
    root = _parse(write(res, "junit", ReportContext(rules=[r.catalog_entry() for r in rules])))
    validate(root)
    check_counts(root)
    cases = _cases(root)
    for name, inv in inventories.items():
        expected = resources_checked(inv, rules, params)
        got = {}
        for (tenant, rule), case in cases.items():
            if tenant == name:
                out = (case.find("system-out").text or "")  # type: ignore[union-attr]
                match = CHECKED.search(out)
                assert match, out
                got[rule] = int(match[1])
                fails = sum(1 for f in findings if (f.tenant, f.rule_id, f.status)
                            == (name, rule, "fail"))
                assert int(match[3]) == fails
        assert got == expected
    assert "SOAR-MAP-001" not in {r for (t, r) in cases if t == "legacy-only"}  # not applicable
    down = {r for (t, r) in cases if t == "down"}
    assert down == {"SOAR-AUDIT-001"}
    assert RULES
