"""summary.md: a ticket-sized summary where hostile names stay plain text once rendered."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from report_factory import HOSTILE, RULES, build_result, trend

from auditor.report import ReportContext
from auditor.report.markdown import md_escape, render
from auditor.result import RunResult
from auditor.textsafe import term_safe

GFM = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_renders_as_itself(text: str) -> None:
    html = GFM.render(f"| a |\n|---|\n| {md_escape(text)} |\n")
    assert html.count("<td>") == 1  # a | in the value did not split the cell
    for tag in ("<img", "<script", "<code", "<a ", "<!--", "<b>"):
        assert tag not in html
    assert "\n" not in md_escape(text) and "\x1b" not in md_escape(text)
    cell = html.split("<td>")[1].split("</td>")[0]
    shown = term_safe(re.sub(r"[\s\u2028\u2029]+", " ", text).strip())
    assert unescape(cell) == shown  # exactly the text, nothing interpreted


def test_summary_of_an_incomplete_run(hostile: RunResult) -> None:
    md = render(hostile, ReportContext(trend=trend(2), rules=RULES))
    assert md.startswith("## SOAR API key audit 20261126T020000Z")
    assert "Audit INCOMPLETE: 1 of 4 tenants were not audited" in md
    html = GFM.render(md)
    assert "<img" not in html and "<script" not in html and "<b>globex" not in html
    assert "&lt;b&gt;globex&lt;/b&gt;" in html  # the tenant name shown as text
    new_rows = [line for line in md.splitlines()
                if line.startswith("| ") and line.count(" | ") >= 4 and "Severity" not in line]
    assert new_rows
    # Every row of the new-findings table still has exactly its five cells once rendered.
    table = md[md.index("### New failing findings"):].split("\n\n")[1]
    rendered = GFM.render(table)
    rows = rendered.split("<tr>")[2:]
    assert rows and all(r.count("<td") == 5 for r in rows)


def test_summary_counts_and_top_new_findings(write: Callable[..., Path]) -> None:
    res = build_result(200, failed_tenant=False)
    md = write(res, "markdown", ReportContext(trend=trend(3), rules=RULES)).read_text("utf-8")
    summary = res.summary()
    assert "**Audit complete**" in md
    assert f"**{summary['failing']} failing**" in md
    assert "| " + " | ".join(str(summary["by_severity"][s]) for s in
                             ("critical", "high", "medium", "low", "info")) + " |" in md
    new = [f for f in res.findings if f.status == "fail" and f.lifecycle == "new"]
    assert f"### New failing findings ({len(new)})" in md
    assert f"…and {len(new) - 15} more" in md
    table = md[md.index("### New failing findings"):].split("\n\n")[1].splitlines()
    assert len(table) == 2 + 15
    assert table[2].startswith("| Critical |")  # most severe first
    assert len(md.splitlines()) < 60  # ticket-sized


def test_summary_says_why_the_failing_rules_matter_with_their_references() -> None:
    from report_factory import RULE_BY_ID

    res = build_result(120, failed_tenant=False)
    md = render(res, ReportContext(rules=RULES))
    html = GFM.render(md)
    section = md[md.index("### Why it matters"):].split("\n\n")[1]
    failing = {f.rule_id for f in res.findings if f.status == "fail"}
    shown = [line for line in section.splitlines() if line.startswith("- **")]
    assert len(shown) == min(len(failing), 8)
    top = shown[0]
    rule = RULE_BY_ID[top.split("**")[1].replace("\\", "")]
    assert f'href="{rule["references"][0]["url"]}"' in html
    assert "<b>unless</b>" not in html and "&lt;b&gt;unless&lt;/b&gt;" in html  # text, not markup
    # Only https links: a catalog entry with another scheme is shown as its title, no link.
    odd = [{**r, "references": [{"title": "x", "url": "javascript:alert(1)"}]} for r in RULES]
    assert "javascript:" not in render(res, ReportContext(rules=odd))
