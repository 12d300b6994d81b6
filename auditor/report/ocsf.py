"""findings.ocsf.jsonl: one OCSF Detection Finding (class 2004) per finding, for SIEM ingestion.

Mapping (OCSF 1.3.0):
- ``activity_id``: 1 Create (lifecycle ``new``), 3 Close (``resolved``), else 2 Update;
  ``type_uid`` = 2004 * 100 + activity_id.
- ``severity_id``: info 1, low 2, medium 3, high 4, critical 5.
- ``status_id``: fail 1 New, muted 3 Suppressed, resolved 4 Resolved, unknown 99 Other
  (``status`` "Unknown verdict": the rule lacked the data to decide).
- ``time``: the audit run's start (epoch milliseconds); ``finding_info.first_seen_time``: when
  the auditor first saw this finding; ``finding_info.uid``: the stable fingerprint.
- What OCSF has no attribute for (tenant, lifecycle, compliance mapping, exception) is in
  ``unmapped``; the rule's evidence is ``evidences[0].data``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor.engine.findings import Finding
from auditor.report.base import ReportContext, atomic_text
from auditor.report.jsonout import json_default
from auditor.result import RunResult

OCSF_VERSION = "1.3.0"
CLASS_UID = 2004
CATEGORY_UID = 2
SEVERITY_IDS = {"info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAMES = {1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
ACTIVITY_NAMES = {1: "Create", 2: "Update", 3: "Close"}
STATUS = {"fail": (1, "New"), "muted": (3, "Suppressed"), "resolved": (4, "Resolved"),
          "unknown": (99, "Unknown verdict")}


def _ms(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


def _activity(finding: Finding) -> int:
    if finding.status == "resolved" or finding.lifecycle == "resolved":
        return 3
    return 1 if finding.lifecycle == "new" else 2


def record(finding: Finding, result: RunResult) -> dict[str, Any]:
    activity = _activity(finding)
    severity_id = SEVERITY_IDS.get(finding.severity, 0)
    status_id, status = STATUS[finding.status]
    run_ms = _ms(result.started_at)
    res = finding.resource
    resource: dict[str, Any] = {
        "uid": f"{finding.tenant}/{res.type}/{'' if res.id is None else res.id}",
        "name": res.name,
        "type": "SOAR API key" if res.type == "api_key" else "SOAR tenant",
        "group": {"name": finding.tenant},
        "data": {"tenant": finding.tenant, "resource_type": res.type, "id": res.id},
    }
    info: dict[str, Any] = {
        "uid": finding.id,
        "title": finding.title,
        "desc": finding.message,
        "created_time": _ms(finding.first_seen) or run_ms,
        "first_seen_time": _ms(finding.first_seen) or run_ms,
        "last_seen_time": run_ms,
        "analytic": {"uid": finding.rule_id, "name": finding.title, "type_id": 1, "type": "Rule"},
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
        "time": run_ms,
        "message": finding.message,
        "is_alert": finding.status == "fail" and finding.lifecycle in ("new", "reopened"),
        "metadata": {
            "version": OCSF_VERSION,
            "uid": f"{result.run_id}/{finding.id}",
            "correlation_uid": finding.id,
            "log_name": "soar-key-auditor",
            "product": {
                "name": "soar-key-auditor",
                "vendor_name": "soar-key-auditor",
                "version": result.tool_version,
            },
        },
        "finding_info": info,
        "resources": [resource],
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
    if finding.remediation:
        rec["remediation"] = {"desc": finding.remediation}
    return rec


class OcsfReporter:
    name = "ocsf"
    filename = "findings.ocsf.jsonl"

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None:
        with atomic_text(path) as handle:
            for finding in result.findings:
                # ASCII only: no U+2028 / U+0085 that a line splitter could take for a line end.
                handle.write(json.dumps(record(finding, result), ensure_ascii=True,
                                        separators=(",", ":"), default=json_default))
                handle.write("\n")
