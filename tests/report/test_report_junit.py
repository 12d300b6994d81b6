"""junit.xml validates against the JUnit shape CI systems read (Jenkins xUnit junit-10.xsd).

The XSD's rules are restated below as data (no XML-schema library is a dependency): which
elements may appear where, their allowed and required attributes, which may hold text, and the
SUREFIRE_TIME pattern of ``time``. On top, the counts CI dashboards trust must add up.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from report_factory import HOSTILE, build_result

from auditor.result import RunResult

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


def test_validates_against_the_junit_schema_shape(
        hostile: RunResult, write: Callable[..., Path]) -> None:
    root = _parse(write(hostile, "junit"))
    assert root.tag == "testsuites"
    validate(root)
    check_counts(root)


def test_one_suite_per_tenant_and_the_verdicts_ci_reads(
        result: RunResult, write: Callable[..., Path]) -> None:
    root = _parse(write(result, "junit"))
    suites = {s.attrib["name"]: s for s in root.iter("testsuite")}
    assert set(suites) == {t.name for t in result.tenants}
    cases = {(s.attrib["name"], c.attrib["classname"], c.attrib["name"]): c
             for s in suites.values() for c in s.iter("testcase")}
    for f in result.findings:
        name = (f"tenant {f.resource.name}" if f.resource.type == "tenant"
                else f"{f.resource.name} (key id {f.resource.id})")
        case = cases[(f.tenant, f"{f.tenant}.{f.rule_id}", name)]
        kinds = [c.tag for c in case]
        expected = {"fail": ["failure"], "unknown": ["error"], "muted": ["skipped"],
                    "resolved": []}[f.status]
        assert kinds == expected, (f.status, kinds)
        if f.status == "fail":
            body = case.find("failure")
            assert body is not None and f.remediation in (body.text or "")
        if f.status == "muted":
            skipped = case.find("skipped")
            assert skipped is not None
            assert f.exception is not None and f.exception["owner"] in skipped.attrib["message"]


def test_a_tenant_not_audited_is_an_error_never_green(
        result: RunResult, write: Callable[..., Path]) -> None:
    root = _parse(write(result, "junit"))
    down = next(t for t in result.tenants if t.status == "error")
    suite = next(s for s in root.iter("testsuite") if s.attrib["name"] == down.name)
    case = next(c for c in suite.iter("testcase") if c.attrib["name"] == "inventory collected")
    error = case.find("error")
    assert error is not None and "HTTP 503" in error.attrib["message"]
    assert int(suite.attrib["errors"]) >= 1


def test_characters_xml_cannot_hold_are_shown_escaped(write: Callable[..., Path]) -> None:
    res = build_result(10, hostile=True)
    text = write(res, "junit").read_text(encoding="utf-8")
    assert "\x00" not in text and "\x1b" not in text
    assert "\\u001b[31mred\\u0000nul" in text
    root = _parse(write(res, "junit"))
    names = {c.attrib["name"] for c in root.iter("testcase")}
    assert any(n.startswith(HOSTILE[1]) for n in names)  # </script>... kept exactly, escaped
