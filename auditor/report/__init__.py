"""Report stage: RunResult -> files in the run's output folder.

``findings.json`` and ``inventory.json`` are always written; each requested format adds its file:

==========  ======================  =====================================================
format      file                    for
==========  ======================  =====================================================
json        findings.json           scripts; always written (schema_version 1)
html        report.html             people: self-contained page, opens offline
csv         findings.csv            spreadsheets (formula cells neutralized)
junit       junit.xml               CI dashboards (Jenkins junit-10.xsd shape)
ocsf        findings.ocsf.jsonl     SIEMs (OCSF 1.5.0 Detection Finding, JSON lines)
markdown    summary.md              a ticket or a pull request comment
migration   migration.md + .csv     the plan to replace each legacy API key (SOAR-MIG-001)
compliance  compliance.md + .csv    auditors: each framework control, pass/fail, evidence
==========  ======================  =====================================================
"""

from __future__ import annotations

from pathlib import Path

from auditor.report.base import ReportContext, Reporter
from auditor.report.compliance_out import ComplianceReporter
from auditor.report.csv_report import CsvReporter
from auditor.report.html import HtmlReporter
from auditor.report.jsonout import InventoryReporter, JsonReporter
from auditor.report.junit import JunitReporter
from auditor.report.markdown import MarkdownReporter
from auditor.report.migration_out import MigrationReporter
from auditor.report.ocsf import OcsfReporter
from auditor.result import RunResult
from auditor.vocab import FORMATS

__all__ = ["FORMATS", "REPORTERS", "ReportContext", "Reporter", "write_reports"]

REPORTERS: dict[str, Reporter] = {
    r.name: r
    for r in (JsonReporter(), HtmlReporter(), CsvReporter(), JunitReporter(), OcsfReporter(),
              MarkdownReporter(), MigrationReporter(), ComplianceReporter())
}
_ALWAYS: tuple[Reporter, ...] = (REPORTERS["json"], InventoryReporter())


def write_reports(result: RunResult, out_dir: Path, formats: list[str],
                  context: ReportContext | None = None) -> list[Path]:
    """Write findings.json, inventory.json and each format in ``formats`` into ``out_dir``
    (created if missing); return the paths written, in that order. An unknown format raises
    ValueError before anything is written."""
    unknown = [f for f in formats if f not in REPORTERS]
    if unknown:
        raise ValueError(
            f"unknown report format {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(REPORTERS)}"
        )
    context = context or ReportContext()
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen: list[Reporter] = list(_ALWAYS)
    for name in formats:
        if REPORTERS[name] not in chosen:
            chosen.append(REPORTERS[name])
    written = []
    for reporter in chosen:
        path = out_dir / reporter.filename
        reporter.write(result, path, context)
        # A format may write more than one file (migration: .md and .csv); its main file first.
        written += [out_dir / name for name in getattr(reporter, "filenames", (reporter.filename,))]
    return written
