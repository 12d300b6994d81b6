"""compliance.csv and compliance.md: one row per control of each framework, pass or fail, with the
findings that evidence it (``--format compliance``).

The verdicts and counts are those of the report's compliance view (views.control_views): a
control fails when a mapped rule fails on some resource, is ``unknown`` when a rule could not
decide, ``incomplete`` when a tenant was not audited, ``not evaluated`` when no mapped rule ran,
else ``pass``. The evidence of a control: its failing, unknown and muted findings (most severe
first; the first EVIDENCE_LIMIT of them, the rest counted), and its rules with their risk and
references. Names from the SOAR API are escaped as in findings.csv and summary.md.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

from auditor.engine.findings import Finding
from auditor.report import views
from auditor.report.base import ReportContext, RuleDoc, atomic_text, rule_docs
from auditor.report.markdown import md_escape, md_link
from auditor.result import RunResult
from auditor.textsafe import csv_safe

EVIDENCE_LIMIT = 50  # findings listed per control (csv cell, md list); the rest are counted
CSV_COLUMNS = ("framework", "framework_title", "control", "verdict", "rules", "evaluated",
               "passed", "failing", "unknown", "muted", "evidence_findings", "evidence",
               "finding_ids", "references")
Evidence = dict[tuple[str, str], list[Finding]]


def evidence_of(result: RunResult) -> Evidence:
    """(framework, control) -> the findings that count against it (fail, unknown, muted)."""
    out: Evidence = defaultdict(list)
    for f in sorted(result.findings, key=views.finding_order):
        if f.status in ("fail", "unknown", "muted"):
            for framework, controls in f.compliance.items():
                for control in controls:
                    out[(str(framework), str(control))].append(f)
    return out


def finding_text(f: Finding) -> str:
    res = f.resource
    where = f"tenant {res.name}" if res.type == "tenant" else (
        f"{res.name} #{res.id}" if res.type == "api_key" else str(res.name))
    return f"{f.severity} {f.rule_id} {f.status}: {f.tenant} / {where}"


def _more(total: int) -> str:
    return (f"and {total - EVIDENCE_LIMIT} more (findings.json, or the report's findings table "
            "filtered on the control)") if total > EVIDENCE_LIMIT else ""


def csv_rows(result: RunResult, context: ReportContext) -> list[list[str]]:
    docs = rule_docs(context)
    found = evidence_of(result)
    rows = []
    for fw in views.control_views(result, context.rules, views.rule_views(result, context.rules)):
        for c in fw.controls:
            ev = found.get((fw.key, c.control), [])
            shown = [finding_text(f) for f in ev[:EVIDENCE_LIMIT]]
            if _more(len(ev)):
                shown.append(_more(len(ev)))
            refs = sorted({u for r in c.rules for u in docs.get(r, RuleDoc()).urls})
            rows.append([csv_safe(v) for v in (
                fw.key, fw.label, c.control, c.verdict, " ".join(c.rules))]
                + [str(n) for n in (c.evaluated, c.passed, c.failing, c.unknown, c.muted,
                                    len(ev))]
                + [csv_safe("\n".join(shown)),
                   csv_safe(" ".join(f.id for f in ev[:EVIDENCE_LIMIT])),
                   csv_safe(" ".join(refs))])
    return rows


def render_md(result: RunResult, context: ReportContext) -> str:
    docs = rule_docs(context)
    found = evidence_of(result)
    by_rule = views.rule_views(result, context.rules)
    frameworks = views.control_views(result, context.rules, by_rule)
    lines = [f"## Compliance evidence, audit {md_escape(result.run_id)}", "",
             f"Run started {result.started_at:%Y-%m-%d %H:%M} UTC, audit {result.status}. One "
             "row per control: the verdict from the rules mapped to it, and the findings that "
             "evidence it. Passed = evaluated − failing − unknown − muted.", ""]
    if result.status != "complete":
        lines += ["> [!WARNING]", "> The audit is incomplete: the keys of the tenants that were "
                  "not audited are in no count, so no control can be attested as passing.", ""]
    if not frameworks:
        lines += ["No rule carries a compliance mapping.", ""]
    for fw in frameworks:
        lines += [f"### {md_escape(fw.label)} (`{md_escape(fw.key)}`)", "",
                  "| Control | Verdict | Rules | Evaluated | Passed | Failing | Unknown | Muted |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {md_escape(c.control)} | **{c.verdict}** | "
                  f"{md_escape(', '.join(c.rules))} | {c.evaluated} | {c.passed} | {c.failing} "
                  f"| {c.unknown} | {c.muted} |" for c in fw.controls]
        lines.append("")
        for c in fw.controls:
            ev = found.get((fw.key, c.control), [])
            if not ev:
                continue
            lines += [f"#### {md_escape(c.control)}: {c.verdict}, {len(ev)} finding(s)", ""]
            lines += [f"- {md_escape(finding_text(f))}: {md_escape(f.message)}"
                      for f in ev[:EVIDENCE_LIMIT]]
            if _more(len(ev)):
                lines.append(f"- {_more(len(ev))}")
            lines.append("")
    mapped = [r for r in by_rule if any(r.id in c.rules for fw in frameworks
                                        for c in fw.controls)]
    if mapped:
        lines += ["### The rules behind the controls", ""]
        for r in mapped:
            doc = docs.get(r.id, RuleDoc())
            line = f"- **{md_escape(r.id)}** ({r.severity}) {md_escape(r.title)}"
            if doc.risk:
                line += f". Risk: {md_escape(doc.risk.rstrip('.'))}"
            if doc.references:
                line += ". References: " + ", ".join(md_link(x.title, x.url)
                                                     for x in doc.references)
            lines.append(line)
        lines.append("")
    lines.append("Every finding, with its evidence: findings.json, report.html (Compliance).")
    return "\n".join(lines) + "\n"


class ComplianceReporter:
    name = "compliance"
    filename = "compliance.md"
    filenames = ("compliance.md", "compliance.csv")

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None:
        with atomic_text(path) as handle:
            handle.write(render_md(result, context))
        with atomic_text(path.with_name("compliance.csv"), newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
            writer.writerow(CSV_COLUMNS)
            writer.writerows(csv_rows(result, context))
