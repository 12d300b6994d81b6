"""findings.csv: one row per finding, every cell neutralized against spreadsheet formulas."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from auditor import jsonio
from auditor.engine.findings import Finding
from auditor.report.base import ReportContext, atomic_bytes
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


class _Cells:
    """``csv_safe`` of the cells many findings share (rule, title, tenant, compliance, first
    seen...), computed once per distinct value for one file."""

    def __init__(self) -> None:
        self._safe: dict[object, str] = {}
        self._compliance: dict[int, tuple[dict[str, list[str]], str]] = {}

    def safe(self, value: object) -> str:
        key = (type(value), value)
        found = self._safe.get(key)
        if found is None:
            found = self._safe[key] = csv_safe(value)
        return found

    def compliance(self, compliance: dict[str, list[str]]) -> str:
        # A rule's findings share one mapping dict: keyed by identity (the dict is kept, so the
        # id is not reused), checked by equality.
        found = self._compliance.get(id(compliance))
        if found is None or found[0] != compliance:
            found = (compliance, self.safe(compliance_text(compliance)))
            self._compliance[id(compliance)] = found
        return found[1]

    def row(self, finding: Finding) -> list[str]:
        """Exactly :func:`row`."""
        safe = self.safe
        exc = finding.exception
        resource = finding.resource
        evidence = finding.evidence
        return [
            safe(finding.id), safe(finding.tenant), safe(finding.rule_id), safe(finding.title),
            safe(finding.severity), safe(finding.status), safe(finding.lifecycle),
            safe(resource.type), csv_safe(resource.id), csv_safe(resource.name),
            csv_safe(finding.message), csv_safe(finding.remediation),
            self.compliance(finding.compliance), safe(iso(finding.first_seen)),
            *((csv_safe(exc.get("owner")), csv_safe(exc.get("reason")),
               csv_safe(exc.get("expires"))) if exc else ("", "", "")),
            csv_safe(jsonio.dumps(evidence, sort_keys=True)) if evidence else "",
        ]


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
        # Written as csv.writer(quoting=QUOTE_ALL, lineterminator="\r\n") writes them (every
        # cell in quotes, quotes doubled), a chunk of rows at a time.
        cells = _Cells()
        findings = result.findings
        with atomic_bytes(path) as handle:
            handle.write(_line(COLUMNS).encode("utf-8", "backslashreplace"))
            for start in range(0, len(findings), _ROWS_AT_ONCE):
                text = "".join([_line(cells.row(f))
                                for f in findings[start:start + _ROWS_AT_ONCE]])
                handle.write(text.encode("utf-8", "backslashreplace"))


_ROWS_AT_ONCE = 2000


def _line(cells: Iterable[str]) -> str:
    return '"' + '","'.join([c.replace('"', '""') if '"' in c else c for c in cells]) + '"\r\n'
