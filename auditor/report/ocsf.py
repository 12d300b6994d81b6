"""findings.ocsf.jsonl: one OCSF Detection Finding (class 2004) per finding, for SIEM ingestion.

Every record declares ``metadata.version`` 1.5.0 and holds only attributes of that version's
Detection Finding (no profile): the tests validate each line against the official 1.5.0 schema
(the schema.ocsf.io export) and parse it with py-ocsf-models. Mapping:

- ``activity_id``: 1 Create (lifecycle ``new``), 3 Close (``resolved``), else 2 Update;
  ``type_uid`` = 2004 * 100 + activity_id.
- ``severity_id``: info 1, low 2, medium 3, high 4, critical 5.
- ``status_id``: fail 1 New, muted 3 Suppressed, resolved 4 Resolved, unknown 99 Other
  (``status`` "Unknown verdict": the rule lacked the data to decide); ``status_code`` is the
  auditor's own status (fail, unknown, muted, resolved) and ``status_detail`` says it in words
  (lifecycle, the exception that mutes it).
- ``is_alert``: a failing finding that is new or reopened in this audit.
- ``time``: the audit run's start (epoch milliseconds); ``finding_info.first_seen_time``: when
  the auditor first saw this finding; ``finding_info.uid``: the stable fingerprint.
- ``metadata.tenant_uid`` and ``resources[].group``: the SOAR tenant; ``metadata.product.uid``:
  ``soar-key-auditor``. A resource's owner is not known to the SOAR API and is left out.
- ``risk_details`` and ``remediation.references``: the rule's risk text and reference URLs
  (from the rule catalog, ``ReportContext.rules``); ``finding_info.analytic.desc``: its
  description.
- What OCSF has no attribute for (lifecycle, compliance mapping, exception) is in ``unmapped``;
  the rule's evidence is ``evidences[0].data``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor.engine.findings import Finding
from auditor.report.base import ReportContext, RuleDoc, atomic_text, rule_docs
from auditor.report.jsonout import json_default
from auditor.result import RunResult

OCSF_VERSION = "1.5.0"
PRODUCT_UID = "soar-key-auditor"
CLASS_UID = 2004
CATEGORY_UID = 2
SEVERITY_IDS = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAMES = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
ACTIVITY_NAMES = {1: "Create", 2: "Update", 3: "Close"}
STATUS = {"fail": (1, "New"), "muted": (3, "Suppressed"), "resolved": (4, "Resolved"),
          "unknown": (99, "Unknown verdict")}
RESOURCE_TYPES = {"api_key": "SOAR API key", "tenant": "SOAR tenant",
                  "idp_mapping": "SOAR Group Mapping entry", "iam_member": "IAM member"}
LIFECYCLE_TEXT = {"new": "new in this audit", "open": "open since an earlier audit",
                  "reopened": "failing again after it was resolved",
                  "resolved": "resolved: it failed in the previous audit and passes now"}


def _ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


def _activity(finding: Finding) -> int:
    if finding.status == "resolved" or finding.lifecycle == "resolved":
        return 3
    return 1 if finding.lifecycle == "new" else 2


def status_detail(finding: Finding) -> str:
    lifecycle = LIFECYCLE_TEXT.get(finding.lifecycle, finding.lifecycle)
    if finding.status == "fail":
        return f"Failing, {lifecycle}."
    if finding.status == "unknown":
        return f"Unknown verdict (the rule lacked the data to decide), {lifecycle}."
    if finding.status == "muted":
        exc = finding.exception or {}
        return (f"Muted by an exception (owner {exc.get('owner') or 'not given'}, expires "
                f"{exc.get('expires') or 'never'}): {exc.get('reason') or 'no reason given'}.")
    return "Resolved: it failed in the previous audit of the tenant and passes now."


def _resource(finding: Finding) -> dict[str, Any]:
    res = finding.resource
    return {
        "uid": f"{finding.tenant}/{res.type}/{'' if res.id is None else res.id}",
        "name": res.name,
        "type": RESOURCE_TYPES.get(res.type, res.type),
        "group": {"name": finding.tenant, "uid": finding.tenant, "type": "SOAR tenant"},
        "data": {"tenant": finding.tenant, "resource_type": res.type, "id": res.id},
    }


def record(finding: Finding, result: RunResult, doc: RuleDoc | None = None) -> dict[str, Any]:
    doc = doc or RuleDoc()
    activity = _activity(finding)
    severity_id = SEVERITY_IDS.get(finding.severity, 0)
    status_id, status = STATUS[finding.status]
    run_ms = _ms(result.started_at)
    seen = _ms(finding.first_seen) or run_ms
    analytic: dict[str, Any] = {"uid": finding.rule_id, "name": finding.title, "type_id": 1,
                                "type": "Rule"}
    if doc.description:
        analytic["desc"] = doc.description
    info: dict[str, Any] = {
        "uid": finding.id,
        "title": finding.title,
        "desc": finding.message,
        "created_time": seen,
        "first_seen_time": seen,
        "last_seen_time": run_ms,
        "analytic": analytic,
        "types": ["SOAR API key configuration"],
    }
    rec: dict[str, Any] = {
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": activity,
        "activity_name": ACTIVITY_NAMES[activity],
        "type_uid": CLASS_UID * 100 + activity,
        "type_name": f"Detection Finding: {ACTIVITY_NAMES[activity]}",
        "severity_id": severity_id,
        "severity": SEVERITY_NAMES.get(severity_id, "Unknown"),
        "status_id": status_id,
        "status": status,
        "status_code": finding.status,
        "status_detail": status_detail(finding),
        "time": run_ms,
        "timezone_offset": 0,
        "message": finding.message,
        "is_alert": finding.status == "fail" and finding.lifecycle in ("new", "reopened"),
        "metadata": {
            "version": OCSF_VERSION,
            "uid": f"{result.run_id}/{finding.id}",
            "correlation_uid": finding.id,
            "log_name": "findings.ocsf.jsonl",
            "log_provider": "soar-key-auditor",
            "tenant_uid": finding.tenant,
            "product": {
                "uid": PRODUCT_UID,
                "name": "soar-key-auditor",
                "vendor_name": "soar-key-auditor",
                "version": result.tool_version,
            },
        },
        "finding_info": info,
        "resources": [_resource(finding)],
        "evidences": [{"data": finding.evidence}] if finding.evidence else [],
        "unmapped": {
            "run_id": result.run_id,
            "tenant": finding.tenant,
            "status": finding.status,
            "lifecycle": finding.lifecycle,
            "compliance": finding.compliance,
            "exception": finding.exception,
        },
    }
    if doc.risk:
        rec["risk_details"] = doc.risk
    if finding.remediation:
        rec["remediation"] = {"desc": finding.remediation}
        if doc.references:
            rec["remediation"]["references"] = doc.urls
    return rec


class OcsfReporter:
    name = "ocsf"
    filename = "findings.ocsf.jsonl"

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None:
        docs = rule_docs(context)
        with atomic_text(path) as handle:
            for finding in result.findings:
                # ASCII only: no U+2028 / U+0085 that a line splitter could take for a line end.
                handle.write(json.dumps(record(finding, result, docs.get(finding.rule_id)),
                                        ensure_ascii=True, separators=(",", ":"),
                                        default=json_default))
                handle.write("\n")
