"""findings.ocsf.jsonl: every line an OCSF 1.3 Detection Finding with the required attributes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
from report_factory import HOSTILE

from auditor.result import RunResult

INT = {"type": "integer"}
TIME = {"type": "integer", "minimum": 1_000_000_000_000}  # epoch milliseconds
STR = {"type": "string", "minLength": 1}
# Required (and the recommended ones we promise) attributes of class 2004 in OCSF 1.3.0: base
# event (activity_id, category_uid, class_uid, severity_id, time, type_uid, metadata with
# product and version), finding (finding_info with uid and title), detection finding.
DETECTION_FINDING: dict[str, Any] = {
    "type": "object",
    "required": ["class_uid", "category_uid", "activity_id", "type_uid", "severity_id", "time",
                 "metadata", "finding_info", "status_id", "resources", "message"],
    "properties": {
        "class_uid": {"const": 2004},
        "class_name": {"const": "Detection Finding"},
        "category_uid": {"const": 2},
        "category_name": {"const": "Findings"},
        "activity_id": {"enum": [1, 2, 3]},
        "type_uid": {"enum": [200401, 200402, 200403]},
        "severity_id": {"enum": [1, 2, 3, 4, 5]},
        "severity": {"enum": ["Informational", "Low", "Medium", "High", "Critical"]},
        "status_id": {"enum": [1, 3, 4, 99]},
        "status": STR,
        "time": TIME,
        "message": {"type": "string"},
        "is_alert": {"type": "boolean"},
        "metadata": {
            "type": "object", "required": ["product", "version"],
            "properties": {
                "version": {"pattern": r"^1\.\d+\.\d+$"},
                "product": {"type": "object", "required": ["name", "vendor_name", "version"],
                            "properties": {"name": STR, "vendor_name": STR, "version": STR}},
            },
        },
        "finding_info": {
            "type": "object", "required": ["uid", "title", "created_time", "first_seen_time"],
            "properties": {"uid": STR, "title": STR, "desc": {"type": "string"},
                           "created_time": TIME, "first_seen_time": TIME,
                           "last_seen_time": TIME,
                           "analytic": {"type": "object", "required": ["uid", "type_id"]}},
        },
        "resources": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["uid", "name", "type"]}},
        "remediation": {"type": "object", "required": ["desc"],
                        "properties": {"desc": STR}},
        "evidences": {"type": "array", "items": {"type": "object", "required": ["data"]}},
    },
}


def _records(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    assert raw.isascii()  # no U+2028/U+0085 a line splitter could take for a line end
    lines = raw.decode("ascii").split("\n")
    assert lines[-1] == ""
    return [json.loads(line) for line in lines[:-1]]


def test_every_record_has_the_required_detection_finding_attributes(
        hostile: RunResult, write: Callable[..., Path]) -> None:
    records = _records(write(hostile, "ocsf"))
    assert len(records) == len(hostile.findings)
    validator = jsonschema.Draft202012Validator(DETECTION_FINDING)
    for rec in records:
        errors = sorted(validator.iter_errors(rec), key=str)
        assert not errors, errors[0].message
        assert rec["type_uid"] == rec["class_uid"] * 100 + rec["activity_id"]


def test_mapping_of_severity_status_and_lifecycle(
        result: RunResult, write: Callable[..., Path]) -> None:
    records = {r["finding_info"]["uid"]: r for r in _records(write(result, "ocsf"))}
    severity = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
    status = {"fail": 1, "muted": 3, "resolved": 4, "unknown": 99}
    for f in result.findings:
        rec = records[f.id]
        assert rec["severity_id"] == severity[f.severity]
        assert rec["status_id"] == status[f.status]
        expected_activity = 3 if f.status == "resolved" else 1 if f.lifecycle == "new" else 2
        assert rec["activity_id"] == expected_activity
        assert rec["finding_info"]["analytic"]["uid"] == f.rule_id
        assert rec["unmapped"]["tenant"] == f.tenant
        assert rec["unmapped"]["compliance"] == f.compliance
        assert rec["time"] == int(result.started_at.timestamp() * 1000)
        if f.first_seen:
            assert rec["finding_info"]["first_seen_time"] == int(f.first_seen.timestamp() * 1000)
        if f.status == "muted":
            assert rec["unmapped"]["exception"]["owner"] == f.exception["owner"]  # type: ignore[index]


def test_hostile_values_round_trip_exactly(
        hostile: RunResult, write: Callable[..., Path]) -> None:
    names = {r["resources"][0]["name"] for r in _records(write(hostile, "ocsf"))}
    assert set(HOSTILE) <= names
