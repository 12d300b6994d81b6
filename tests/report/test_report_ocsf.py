"""findings.ocsf.jsonl: every line a Detection Finding that the official OCSF schema of the version
it declares accepts, and that py-ocsf-models (what Prowler emits OCSF with) parses.

The official schema: the ``ocsf-json-schema`` package ships the OCSF server's own export of each
released version (``schema.ocsf.io/<version>/export/schema``, the compiled ocsf-schema
repository) and derives from it the JSON Schema of a class as schema.ocsf.io does (every
attribute of the class and its objects, types, enums, required attributes, no attribute the
version does not define). Nothing here restates the schema.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from report_factory import HOSTILE, NOW, RULE_BY_ID, RULES, build_result

from auditor.engine.findings import Finding, Resource
from auditor.report import ReportContext
from auditor.report.ocsf import OCSF_VERSION
from auditor.result import RunResult


@cache
def _validator(version: str, profiles: tuple[str, ...] = ()) -> jsonschema.Draft202012Validator:
    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=version))
    name = schema.lookup_class_name_from_uid(class_uid=2004)
    return jsonschema.Draft202012Validator(
        schema.get_class_schema(class_name=name, profiles=list(profiles)),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def official_errors(rec: dict[str, Any]) -> list[str]:
    """What the official schema of the version the record declares says is wrong with it."""
    meta = rec.get("metadata") or {}
    validator = _validator(meta.get("version"), tuple(meta.get("profiles") or ()))
    return sorted(f"{e.json_path}: {e.message}" for e in validator.iter_errors(rec))


def _records(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    assert raw.isascii()  # no U+2028/U+0085 a line splitter could take for a line end
    lines = raw.decode("ascii").split("\n")
    assert lines[-1] == ""
    return [json.loads(line) for line in lines[:-1]]


def _other_resources(res: RunResult) -> RunResult:
    """Findings about a Group Mapping entry, an IAM member and a tenant as a whole, too."""
    rule = RULE_BY_ID["SOAR-PG-001"]
    for i, (kind, rid, name) in enumerate([
            ("idp_mapping", "projects/p/locations/us/instances/i/legacySoarIdpMappingGroups/7",
             HOSTILE[1]),
            ("iam_member", "serviceAccount:ci@p.iam.gserviceaccount.com",
             "serviceAccount:ci@p.iam.gserviceaccount.com")]):
        res.findings.append(Finding(
            rule_id=rule["id"], title=rule["title"], severity="critical",
            status="fail", tenant="acme-000", resource=Resource(kind, rid, name),  # type: ignore[arg-type]
            message=f"{name} is admin", remediation="Remove the role.",
            evidence={"roles": ["roles/owner"], "when": NOW - timedelta(days=i)},
            compliance=rule["compliance"], lifecycle="reopened", first_seen=None))
    return res


@pytest.mark.parametrize("hostile", [False, True])
def test_every_record_validates_against_the_official_schema_of_its_version(
        hostile: bool, write: Callable[..., Path]) -> None:
    res = _other_resources(build_result(120, hostile=hostile))
    records = _records(write(res, "ocsf"))
    assert len(records) == len(res.findings)
    assert {r["metadata"]["version"] for r in records} == {OCSF_VERSION}
    assert {r["resources"][0]["type"] for r in records} == {
        "SOAR API key", "SOAR tenant", "SOAR Group Mapping entry", "IAM member"}
    invalid = {r["finding_info"]["uid"]: official_errors(r) for r in records}
    invalid = {uid: errors for uid, errors in invalid.items() if errors}
    assert not invalid, next(iter(invalid.values()))
    for rec in records:
        assert rec["type_uid"] == rec["class_uid"] * 100 + rec["activity_id"]


def test_the_official_schema_catches_what_a_wrong_record_would_do(
        result: RunResult, write: Callable[..., Path]) -> None:
    """The check has teeth: the very faults of the issue (is_alert under 1.3.0, an attribute the
    version does not have, a missing required attribute, a wrong enum) are all rejected."""
    rec = _records(write(result, "ocsf"))[0]
    assert official_errors(rec) == []
    as_13 = copy.deepcopy(rec)
    as_13["metadata"]["version"] = "1.3.0"
    assert any("is_alert" in e for e in official_errors(as_13))
    del as_13["is_alert"]
    assert official_errors(as_13) == []  # is_alert is the only 1.4+ attribute we write
    extra = copy.deepcopy(rec)
    extra["finding_info"]["tenant"] = "acme"
    assert official_errors(extra)
    missing = copy.deepcopy(rec)
    del missing["metadata"]["product"]
    assert official_errors(missing)
    wrong = copy.deepcopy(rec)
    wrong["severity_id"] = 7
    assert official_errors(wrong)


def test_every_record_parses_with_py_ocsf_models(write: Callable[..., Path]) -> None:
    res = _other_resources(build_result(80, hostile=True))
    for rec in _records(write(res, "ocsf")):
        model = DetectionFinding.model_validate(rec)
        assert model.finding_info.uid == rec["finding_info"]["uid"]
        assert int(model.severity_id) == rec["severity_id"]
        assert model.status_id is not None and int(model.status_id) == rec["status_id"]
        assert model.metadata.version == OCSF_VERSION
        assert model.metadata.tenant_uid == rec["unmapped"]["tenant"]
        assert model.metadata.product.uid == "soar-key-auditor"
        assert model.status_code == rec["unmapped"]["status"]
        assert model.status_detail and model.risk_details
        assert model.resources and model.resources[0].group is not None
        assert model.resources[0].group.name == rec["unmapped"]["tenant"]
        assert model.resources[0].name == rec["resources"][0]["name"]


def test_recommended_attributes_carry_the_rule_risk_references_and_status(
        result: RunResult, write: Callable[..., Path]) -> None:
    records = {r["finding_info"]["uid"]: r for r in _records(write(result, "ocsf"))}
    for f in result.findings:
        rec = records[f.id]
        rule = RULE_BY_ID[f.rule_id]
        assert rec["risk_details"] == rule["risk"]
        assert rec["remediation"]["desc"] == f.remediation
        assert rec["remediation"]["references"] == [r["url"] for r in rule["references"]]
        assert rec["status_code"] == f.status
        assert rec["metadata"]["tenant_uid"] == f.tenant
        assert rec["resources"][0]["group"]["name"] == f.tenant
        assert rec["is_alert"] is (f.status == "fail" and f.lifecycle in ("new", "reopened"))
        if f.status == "muted":
            assert f.exception is not None
            assert f.exception["owner"] in rec["status_detail"]
            assert f.exception["reason"] in rec["status_detail"]
    # Without a catalog entry the record stays valid; it only lacks the rule's documentation.
    bare = _records(write(result, "ocsf", ReportContext(rules=[])))
    assert all("risk_details" not in r and "references" not in r.get("remediation", {})
               and not official_errors(r) for r in bare)
    assert RULES  # the catalog the first write used


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
