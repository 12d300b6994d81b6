"""Authentication per tenant (AppKey / Google on migrated instances) and API drift, as people see
them in report.html and summary.md. (In a browser: test_report_browser.py.)"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from pathlib import Path

from markdown_it import MarkdownIt
from report_factory import HOSTILE, RULES, build_result

from auditor.engine.evaluate import MIGRATED_NOTE
from auditor.report import ReportContext
from auditor.report.markdown import render
from auditor.report.views import tenant_views
from auditor.result import RunResult
from auditor.soar.models import DriftNote

GFM = MarkdownIt("commonmark", {"html": True}).enable(["table"])
GROUP_RULES = {"SOAR-ENV-001", "SOAR-ENV-002", "SOAR-PG-001", "SOAR-PG-002"}


def migrated(res: RunResult, tenant: str = "acme-001") -> RunResult:
    """``tenant`` becomes an instance migrated to Google Cloud, as the engine reports it."""
    for t in res.tenants:
        if t.name == tenant:
            t.auth = "google"
    for f in res.findings:
        if f.tenant == tenant and f.rule_id in GROUP_RULES:
            f.evidence.update(auth="google", note=MIGRATED_NOTE)
    res.drift = [DriftNote("GetApiKeys", "lastUsedTimeUnixTimeInMs", "unknown field, ignored"),
                 DriftNote("GetEnvironments", "region", "unknown field, ignored"),
                 *res.drift]
    return res


def _tenant_rows(html: str) -> dict[str, list[str]]:
    """The by-tenant table: tenant name -> the text of each cell."""
    section = html[html.index('<section id="by-tenant"'):html.index('<section id="by-rule"')]
    rows: dict[str, list[str]] = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", section, re.DOTALL)[1:]:
        cells = [unescape(re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)]
        rows[cells[0]] = cells
    return rows


def test_tenant_views_carry_the_authentication() -> None:
    views = {v.name: v for v in tenant_views(migrated(build_result(40)))}
    assert views["acme-001"].auth == "google"
    assert views["acme-001"].auth_label == "Google (migrated instance)"
    assert views["acme-000"].auth == "appkey" and views["acme-000"].auth_label == "AppKey"


def test_by_tenant_shows_each_tenants_authentication(write: Callable[..., Path]) -> None:
    res = migrated(build_result(60))
    html = write(res, "html").read_text("utf-8")
    start = html.index('<section id="by-tenant"')
    header = html[start:html.index("</thead>", start)]
    assert "<th>Authentication</th>" in header
    rows = _tenant_rows(html)
    assert set(rows) == {t.name for t in res.tenants}
    assert rows["acme-001"][2] == "Google (migrated instance)"
    assert rows["acme-000"][2] == "AppKey" and rows["globex-eu"][2] == "AppKey"
    assert '<td class="nowrap" data-auth="google"><span class="st st-google"' in html
    # the header says how many tenants were reached with Google credentials
    assert '<span id="google-tenants">1 via Google auth (migrated instance)</span>' in html
    plain = write(build_result(20), "html").read_text("utf-8")
    assert 'id="google-tenants"' not in plain


def test_the_drift_section_lists_every_drift_note(write: Callable[..., Path]) -> None:
    res = migrated(build_result(30, hostile=True))
    html = write(res, "html").read_text("utf-8")
    section = html[html.index('<section id="drift"'):]
    section = section[:section.index("</section>")]
    rows = re.findall(r"<tr><td class=\"mono\">(.*?)</td><td class=\"mono\">(.*?)</td>"
                      r"<td class=\"wrap-text\">(.*?)</td></tr>", section)
    assert [tuple(map(unescape, r)) for r in rows] == [
        (d.endpoint, d.field, d.detail) for d in res.drift]
    assert HOSTILE[1] == res.drift[-1].detail and "<script>" not in section


def test_markdown_tenants_table_has_the_authentication() -> None:
    res = migrated(build_result(120, failed_tenant=False))
    md = render(res, ReportContext(rules=RULES))
    table = md[md.index("### Failing findings by tenant"):].split("\n\n")[1]
    lines = table.splitlines()
    assert lines[0] == "| Tenant | Authentication | Failing | Critical | High |"
    by_name = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[1] for line in lines[2:]}
    assert by_name["acme-001"] == "Google (migrated instance)"
    assert by_name["acme-000"] == "AppKey"
    rendered = GFM.render(table)
    assert all(r.count("<td") == 5 for r in rendered.split("<tr>")[2:])
    assert ("Google (migrated instance): acme-001. IAM permissions replace permission groups "
            "there") in md
    assert "API drift: 3 response field(s) of an unexpected shape" in md


def test_markdown_names_migrated_tenants_even_without_failing_findings() -> None:
    res = build_result(0, failed_tenant=False)
    res.tenants[0].name = HOSTILE[0]
    res.tenants[0].auth = "google"
    md = render(res, ReportContext(rules=RULES))
    assert "### Failing findings by tenant" not in md
    html = GFM.render(md)
    assert "<img" not in html and "Google (migrated instance): &lt;img" in html
    res.drift = []
    assert "API drift" not in render(res, ReportContext(rules=RULES))
