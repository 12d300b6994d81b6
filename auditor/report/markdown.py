"""summary.md: a ticket-sized summary (GitHub / GitLab flavoured Markdown).

Every value from the SOAR API goes through :func:`md_escape`: Markdown punctuation is
backslash-escaped (so ``|`` cannot split a table cell, backticks cannot open code, ``<`` cannot
open HTML, ``@`` cannot mention, ``[`` cannot make a link) and control characters and line breaks
become visible escapes or spaces, so a value stays on its line.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from auditor.engine.findings import SEVERITIES, Finding
from auditor.report.base import ReportContext, RuleDoc, atomic_text, rule_docs
from auditor.report.migration import build_plan, when_text
from auditor.report.trend import series
from auditor.report.views import auth_label, finding_order, tenant_views
from auditor.result import RunResult
from auditor.textsafe import term_safe

TOP_NEW = 15
# Inline punctuation only: escaped values never start a line (they follow a cell's "| " or a
# "- **"), so block markers (#, -, +, =, digits) cannot act and stay readable.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~@$&])")
_SPACE = re.compile(r"[\s\u2028\u2029]+")


def md_escape(value: object) -> str:
    """One line of plain text that every CommonMark/GFM renderer shows literally when placed
    inside a line (a table cell, after a list marker)."""
    text = _SPACE.sub(" ", "" if value is None else str(value)).strip()
    return _MD_SPECIAL.sub(r"\\\1", term_safe(text))


def md_link(title: object, url: str) -> str:
    """A link to an https page: the title escaped, the URL percent-encoded inside <...> (no
    space, <, >, backslash or line break can end it). Anything but https:// stays plain text."""
    if not url.startswith("https://"):
        return md_escape(title)
    return f"[{md_escape(title)}](<{quote(url, safe=_URL_SAFE)}>)"


_URL_SAFE = ":/?#@!$&'()*+,;=%~-._"
TOP_RULES = 8


def _rules_section(result: RunResult, context: ReportContext) -> list[str]:
    """Why the failing rules matter and where to read more (the catalog's risk, references)."""
    docs = rule_docs(context)
    failing: dict[str, list[Finding]] = {}
    for f in sorted(result.findings, key=finding_order):
        if f.status == "fail":
            failing.setdefault(f.rule_id, []).append(f)
    if not failing:
        return []
    lines = ["### Why it matters", ""]
    for rule_id, found in list(failing.items())[:TOP_RULES]:
        doc = docs.get(rule_id, RuleDoc())
        line = (f"- **{md_escape(rule_id)}** {md_escape(found[0].title)} "
                f"({found[0].severity}, {len(found)} failing)")
        if doc.risk:
            line += f": {md_escape(doc.risk)}"
        if doc.references:
            line += " — " + ", ".join(md_link(r.title, r.url) for r in doc.references)
        lines.append(line)
    if len(failing) > TOP_RULES:
        lines.append(f"- …and {len(failing) - TOP_RULES} more rules in report.html (By rule).")
    return [*lines, ""]


def _key(f: Finding) -> str:
    if f.resource.type == "tenant":
        return f"tenant {md_escape(f.resource.name)}"
    return f"{md_escape(f.resource.name)} (id {f.resource.id})"


def _status_line(result: RunResult) -> str:
    failed = [t for t in result.tenants if t.status == "error"]
    if result.status == "complete":
        return f"**Audit complete**: {len(result.tenants)} tenant(s) audited."
    if result.status == "failed":
        return ("> [!CAUTION]\n> **Audit FAILED: nothing was audited.** "
                "No tenant could be collected.")
    return (f"> [!WARNING]\n> **Audit INCOMPLETE: {len(failed)} of {len(result.tenants)} tenants "
            "were not audited.** Their keys were not checked; this is not a clean result.")


def _legacy(result: RunResult, context: ReportContext) -> list[str]:
    """The legacy API countdown (SOAR-MIG-001), when legacy keys are left."""
    plan = build_plan(result, shutdown=context.legacy_api_shutdown,
                      warning_days=context.legacy_api_warning_days)
    if not plan.keys:
        return []
    n = plan.keys_left
    tenants = sum(1 for t in plan.tenants if t.keys_left)
    verb = "stopped" if plan.passed else "stop" if n > 1 else "stops"
    on = f"on {plan.shutdown.isoformat()}" if plan.shutdown else "at the legacy API shutdown"
    line = (f"**Legacy API**: {n} legacy API key{'' if n == 1 else 's'} in {tenants} tenant(s) "
            f"{verb} working {on} ({when_text(plan.days_left)}); the replacement of each is in "
            "migration.md (`--format migration`) and report.html.")
    return (["> [!WARNING]", f"> {line}", ""] if plan.in_window else [line, ""])


def render(result: RunResult, context: ReportContext) -> str:
    summary = result.summary()
    points = series(context.trend, result)
    previous = points[-2] if len(points) > 1 else None
    lines = [f"## SOAR API key audit {md_escape(result.run_id)}", "",
             _status_line(result), ""]
    started = result.started_at.strftime("%Y-%m-%d %H:%M UTC")
    change = ""
    if previous is not None:
        delta = summary["failing"] - previous.failing
        change = f" ({'+' if delta > 0 else ''}{delta} since the previous run)"
    lines += [
        f"Run started {started}. **{summary['failing']} failing**{change}, "
        f"{summary['new']} new, {summary['resolved']} resolved, {summary['unknown']} unknown, "
        f"{summary['muted']} muted.",
        "",
        "| " + " | ".join(s.capitalize() for s in SEVERITIES) + " |",
        "|" + "---:|" * len(SEVERITIES),
        "| " + " | ".join(str(summary["by_severity"][s]) for s in SEVERITIES) + " |",
        "",
    ]
    failed = [t for t in result.tenants if t.status == "error"]
    if failed:
        lines += ["### Tenants not audited", ""]
        lines += [f"- **{md_escape(t.name)}**: {md_escape(t.error or 'could not be collected')}"
                  for t in failed]
        lines.append("")
    new = sorted((f for f in result.findings if f.status == "fail" and f.lifecycle == "new"),
                 key=finding_order)
    if new:
        lines += [f"### New failing findings ({len(new)})", "",
                  "| Severity | Rule | Tenant | Key | Finding |", "|---|---|---|---|---|"]
        lines += [f"| {f.severity.capitalize()} | {md_escape(f.rule_id)} | {md_escape(f.tenant)} "
                  f"| {_key(f)} | {md_escape(f.message)} |" for f in new[:TOP_NEW]]
        if len(new) > TOP_NEW:
            lines.append(f"\n…and {len(new) - TOP_NEW} more in report.html / findings.csv.")
        lines.append("")
    busiest = [t for t in tenant_views(result) if t.tally.failing][:10]
    if busiest:
        lines += ["### Failing findings by tenant", "",
                  "| Tenant | Authentication | Failing | Critical | High |",
                  "|---|---|---:|---:|---:|"]
        lines += [f"| {md_escape(t.name)} | {md_escape(t.auth_label)} | {t.tally.failing} "
                  f"| {t.tally.by_severity['critical']} | {t.tally.by_severity['high']} |"
                  for t in busiest]
        lines.append("")
    lines += _rules_section(result, context)
    lines += _legacy(result, context)
    google = [t.name for t in result.tenants if t.auth == "google"]
    if google:
        lines += [f"{auth_label('google')}: {', '.join(md_escape(n) for n in google)}. IAM "
                  "permissions replace permission groups there; permission-group findings judge "
                  "the legacy groups the API still reports.", ""]
    if result.drift:
        lines += [f"API drift: {len(result.drift)} response field(s) of an unexpected shape "
                  "(see report.html, findings.json).", ""]
    exc = result.exceptions
    if exc.expired or exc.unused:
        lines += [f"Exceptions: {len(exc.expired)} expired, {len(exc.unused)} unused "
                  "(see report.html).", ""]
    lines.append("Full details: report.html (opens offline), findings.json, findings.csv.")
    return "\n".join(lines) + "\n"


class MarkdownReporter:
    name = "markdown"
    filename = "summary.md"

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None:
        with atomic_text(path) as handle:
            handle.write(render(result, context))
