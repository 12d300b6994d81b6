"""Exceptions, rule files and scenarios read through the same safe loader; a waiver that mutes
everything is warned about and listed first."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from auditor.engine.exceptions import ExceptionsError, apply_exceptions, load_exceptions
from auditor.engine.findings import Finding, Resource
from auditor.engine.rules import validate_paths
from auditor.result import RunResult, TenantResult
from auditor.simulator.scenario import ScenarioError, load_scenario
from tests.files.test_yamlsrc import ONE_LINE_BOMB

TODAY = date(2026, 11, 26)
ENTRY = "- rule: SOAR-PG-001\n  reason: sealed\n  owner: secops@acme.example\n"


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def exception_errors(path: Path) -> list[str]:
    with pytest.raises(ExceptionsError) as caught:
        load_exceptions(path)
    return caught.value.errors


def test_exceptions_files_that_cannot_be_used(tmp_path: Path) -> None:
    bad_date = write(tmp_path, "e1.yaml", ENTRY + "  expires: 2027-03-31\n"
                                         + ENTRY + "  expires: 2027-02-30\n")
    assert exception_errors(bad_date) == [
        f"{bad_date}:8: entry 2: expires: '2027-02-30' is not a valid date"]
    dup = write(tmp_path, "e2.yaml", ENTRY + "  expires: 2027-03-31\n  owner: someone\n")
    assert exception_errors(dup) == [f"{dup}:5: entry 1: duplicate key 'owner' (first at line 3)"]
    latin = write(tmp_path, "e3.yaml", ENTRY.encode() + b"  expires: 2027-03-31\n# \xff\n")
    (error,) = exception_errors(latin)
    assert error.startswith(f"{latin}:5: not UTF-8 text: byte 0xff at byte offset ")
    bomb = write(tmp_path, "e4.yaml", ONE_LINE_BOMB.replace("x: ", "- rule: ", 1))
    assert "a YAML bomb?" in exception_errors(bomb)[0]
    two = write(tmp_path, "e5.yaml", ENTRY + "  expires: soon\n" + ENTRY + "  colour: red\n")
    assert exception_errors(two) == [  # every problem, each with its line
        f"{two}:4: entry 1: expires: Input should be a valid date or datetime, input is too short",
        f"{two}:5: entry 2: expires: is required",
        f"{two}:8: entry 2: unknown key 'colour' (allowed: rule, tenant, key, resource, reason, "
        "owner, expires)",
    ]


def _finding(rule: str, tenant: str, key_id: int) -> Finding:
    return Finding(rule_id=rule, title=rule, severity="high", status="fail", tenant=tenant,
                   resource=Resource("api_key", key_id, f"key-{key_id}"), message="m",
                   remediation="r", evidence={}, compliance={})


def test_a_waiver_that_mutes_everything_is_warned_about_and_listed_first(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "exceptions.yaml", (
        "- {rule: SOAR-AGE-001, tenant: acme, reason: r, owner: o, expires: 2027-03-31}\n"
        "- {rule: SOAR-NAME-*, reason: r, owner: o, expires: 2020-01-01}\n"
        "- {rule: '*', reason: quiet please, owner: o, expires: 2027-03-31}\n"
        "- {rule: '*', key: '*', tenant: '**', reason: r, owner: o, expires: 2020-01-01}\n"
        "- {rule: '*', tenant: acme, reason: narrowed to a tenant, owner: o, expires: 2027-03-31}\n"
    ))
    with caplog.at_level(logging.WARNING, logger="auditor.exceptions"):
        entries = load_exceptions(path)
    assert [e.broad for e in entries] == [False, False, True, True, False]
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert warnings[0].startswith(f"{path}:3: this exception mutes every failing finding of "
                                  "every rule, tenant and key until 2027-03-31")
    findings = [_finding("SOAR-PG-001", "beta", 1), _finding("SOAR-AGE-001", "acme", 2)]
    status = apply_exceptions(findings, entries, TODAY)
    assert findings[0].status == "muted" and findings[0].exception is not None
    assert findings[0].exception["broad"] is True
    assert [(e["source"], e["state"], e["muted"]) for e in status.broad] == [
        (f"{path}:3", "active", 1), (f"{path}:4", "expired", 0)]
    assert status.expired[0]["source"] == f"{path}:4" and status.expired[0]["broad"] is True
    assert [e["source"] for e in status.expired] == [f"{path}:4", f"{path}:2"]
    result = RunResult(run_id="r", started_at=datetime(2026, 11, 26, tzinfo=UTC),
                       finished_at=None, tool_version="t",
                       tenants=[TenantResult("acme", "ok", None, {})], findings=findings,
                       exceptions=status)
    assert result.to_dict()["exceptions"]["broad"] == status.broad  # findings.json


def test_rule_files_that_cannot_be_used(tmp_path: Path) -> None:
    good = (Path(__file__).parents[2] / "rules" / "SOAR-NAME-002.yaml").read_text()
    dup = write(tmp_path, "dup.yaml", good.replace("id: SOAR-NAME-002", "id: ACME-X-001", 1)
                + "title: again\n")
    latin = write(tmp_path, "latin.yaml", b"id: ACME-X-002\ntitle: caf\xe9\n")
    bomb = write(tmp_path, "bomb.yaml", ONE_LINE_BOMB)
    date_ = write(tmp_path, "date.yaml", "id: ACME-X-003\ntitle: 2027-02-30\n")
    errors = validate_paths([dup, latin, bomb, date_])
    assert errors[0].startswith(f"{dup}:") and "duplicate key 'title' (first at line" in errors[0]
    assert errors[1].startswith(f"{latin}:2: not UTF-8 text: byte 0xe9 at byte offset 25")
    assert errors[2].startswith(f"{bomb}:1: aliases expand this document")
    assert errors[3] == f"{date_}:2: title: '2027-02-30' is not a valid date"
    assert len(errors) == 4


def test_scenarios_that_cannot_be_used(tmp_path: Path) -> None:
    cases = {
        "dup.yaml": ("tenant: a\nenvironments: []\ntenant: b\n",
                     "dup.yaml:3: duplicate key 'tenant' (first at line 1)"),
        "latin.yaml": (b"tenant: caf\xe9\n", "latin.yaml:1: not UTF-8 text: byte 0xe9 at byte "
                                             "offset 11"),
        "bomb.yaml": (ONE_LINE_BOMB, "bomb.yaml:1: aliases expand this document"),
        "date.yaml": ("tenant: a\napi_keys:\n  - id: 1\n    created: 2027-02-30\n",
                      "date.yaml:4: api_keys[0].created: '2027-02-30' is not a valid date"),
    }
    for name, (text, expected) in cases.items():
        with pytest.raises(ScenarioError) as caught:
            load_scenario(write(tmp_path, name, text))
        assert str(caught.value).startswith(f"{tmp_path}/{expected}"), str(caught.value)
        assert "\n" not in str(caught.value)
