"""report.html: one self-contained page (no network), strict CSP, findings rendered in the browser.

The page's only script and stylesheet are inlined from templates/report.js and report.css and
allowed by their SHA-256 in the Content-Security-Policy; nothing else may run or load. Findings
travel as escaped JSON (htmldata.py) and the script writes them with textContent only; Trusted
Types are required, so an ``innerHTML`` with a string would throw instead of parsing markup.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Template
from markupsafe import Markup

from auditor.engine.findings import SEVERITIES
from auditor.report import htmldata, views
from auditor.report.actions import top_actions
from auditor.report.base import ReportContext, atomic_bytes, rule_docs
from auditor.report.migration import GROUP_MAPPING_PATH, build_plan
from auditor.report.trend import build_chart, series
from auditor.result import RunResult
from auditor.textsafe import term_safe

SECTION_LIMIT = 200
# Where the page data goes (no text of a run can hold it: NUL is escaped in every {{ value }}).
DATA_PLACEHOLDER = Markup("\x00report-data\x00")


@dataclass(frozen=True, slots=True)
class Asset:
    text: Markup
    digest: str


def _asset(name: str) -> Asset:
    text = resources.files("auditor.report").joinpath("templates", name).read_text("utf-8")
    if "</" in text or "<!--" in text:  # would end the element it is inlined in
        raise ValueError(f"templates/{name} must not contain '</' or '<!--'")
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return Asset(Markup(text), f"'sha256-{digest}'")  # noqa: S704 - our own file, checked above


def csp(script: Asset, style: Asset) -> str:
    return (
        "default-src 'none'; "
        f"script-src {script.digest}; style-src {style.digest}; img-src data:; "
        "base-uri 'none'; form-action 'none'; "
        "require-trusted-types-for 'script'; trusted-types 'none'"
    )


def _finalize(value: object) -> object:
    """Every ``{{ value }}``: control and bidi-override characters become visible escapes
    (autoescape then handles <, >, &, quotes). Markup (our own script, style, data) is kept."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return term_safe(value, keep_newlines=True)
    return value


def _sev(value: object) -> str:
    return str(value) if value in SEVERITIES else "unknown"


def _when(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return "—" if value is None else str(value)


def _num(value: object) -> str:
    return "—" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("auditor.report", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters.update(sev=_sev, when=_when, num=_num)
    return env


@cache
def _page() -> tuple[Template, Asset, Asset]:
    return environment().get_template("report.html.j2"), _asset("report.js"), _asset("report.css")


def _duration(result: RunResult) -> str:
    if result.finished_at is None:
        return "did not finish"
    seconds = int((result.finished_at - result.started_at).total_seconds())
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def page_context(result: RunResult, context: ReportContext) -> dict[str, Any]:
    docs = rule_docs(context)
    data = htmldata.DataStream(result, docs)
    actions, actions_total = top_actions(result, context.rules, docs)
    summary = result.summary()
    points = series(context.trend, result)
    previous = points[-2] if len(points) > 1 else None
    by_rule = views.rule_views(result, context.rules)
    ordered = sorted(result.findings, key=views.finding_order)
    unknown = [f for f in ordered if f.status == "unknown"]
    muted = [f for f in ordered if f.status == "muted"]
    today = result.started_at.date()
    groups = views.exception_groups(muted, today)
    migration = build_plan(result, shutdown=context.legacy_api_shutdown,
                           warning_days=context.legacy_api_warning_days)
    return {
        "run": result,
        "status": result.status,
        "summary": summary,
        "severities": SEVERITIES,
        "duration": _duration(result),
        "previous": previous,
        "delta": None if previous is None else summary["failing"] - previous.failing,
        "tenants": views.tenant_views(result),
        "failed_tenants": [t for t in result.tenants if t.status == "error"],
        "ok_tenants": sum(1 for t in result.tenants if t.status == "ok"),
        "google_tenants": sum(1 for t in result.tenants if t.auth == "google"),
        "rules": by_rule,
        "docs": docs,
        "actions": actions,
        "actions_total": actions_total,
        "frameworks": views.control_views(result, context.rules, by_rule),
        "chart": build_chart(context.trend, result),
        "unknown": unknown[:SECTION_LIMIT],
        "unknown_total": len(unknown),
        "muted": muted[:SECTION_LIMIT],
        "muted_total": len(muted),
        "exception_groups": groups[:SECTION_LIMIT],
        "exception_groups_total": len(groups),
        "expired": result.exceptions.expired,
        "unused": result.exceptions.unused,
        "today": today,
        "migration": migration,
        "migration_rows": migration.keys[:SECTION_LIMIT],  # soonest first (plan_order)
        "group_mapping_path": GROUP_MAPPING_PATH,
        "options": data.options,
        # The page data is streamed into the page where this placeholder is (HtmlReporter).
        "data_json": DATA_PLACEHOLDER,
        "data_stream": data,
    }


class HtmlReporter:
    name = "html"
    filename = "report.html"

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None:
        template, script, style = _page()
        values = page_context(result, context)
        values.update(script=script.text, style=style.text, csp=csp(script, style))
        data: htmldata.DataStream = values.pop("data_stream")
        pending = True
        with atomic_bytes(path) as handle:
            for chunk in template.generate(**values):
                if pending and DATA_PLACEHOLDER in chunk:
                    before, after = chunk.split(DATA_PLACEHOLDER, 1)
                    handle.write(before.encode("utf-8", "backslashreplace"))
                    data.write(handle)
                    chunk, pending = after, False
                handle.write(chunk.encode("utf-8", "backslashreplace"))
