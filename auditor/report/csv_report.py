"""findings.csv: one row per finding, every cell neutralized against spreadsheet formulas."""

from __future__ import annotations

import csv
from pathlib import Path

from auditor import jsonio
from auditor.engine.findings import Finding
from auditor.report.base import ReportContext, atomic_text
from auditor.result import RunResult, iso
from auditor.textsafe import csv_safe

COLUMNS = (
    "id",
    "tenant",
    "rule_id",
    "title",
    "severity",
    "status",
    "lifecycle",
    "resource_type",
    "resource_id",
    "resource_name",
    "message",
    "remediation",
    "compliance",
    "first_seen",
    "exception_owner",
    "exception_reason",
    "exception_expires",
    "evidence",
)


def compliance_text(compliance: dict[str, list[str]]) -> str:
    """``nist-800-53-r5: AC-2, AC-6; soc2: CC6.1`` (frameworks and controls sorted)."""
    return "; ".join(
        f"{framework}: {', '.join(str(c) for c in controls)}"
        for framework, controls in sorted(compliance.items())
    )


def row(finding: Finding) -> list[str]:
    exc = finding.exception or {}
    values: list[object] = [
        finding.id,
        finding.tenant,
        finding.rule_id,
        finding.title,
        finding.severity,
        finding.status,
        finding.lifecycle,
        finding.resource.type,
        finding.resource.id,
        finding.resource.name,
        finding.message,
        finding.remediation,
        compliance_text(finding.compliance),
        iso(finding.first_seen),
        exc.get("owner"),
        exc.get("reason"),
        exc.get("expires"),
        jsonio.dumps(finding.evidence, sort_keys=True)
        if finding.evidence
        else "",
    ]
    return [csv_safe(v) for v in values]


class CsvReporter:
    name = "csv"
    filename = "findings.csv"

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None:
        # UTF-8 without a byte-order mark, RFC 4180 line ends, every cell quoted: a cell that
        # holds a comma, a quote or a line break stays one cell in every reader.
        with atomic_text(path, newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
            writer.writerow(COLUMNS)
            writer.writerows(row(f) for f in result.findings)
