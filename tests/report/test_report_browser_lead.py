"""report.html as a security lead reads it, in a real headless Chromium: what to fix first on the
first screen, severity "and above", filters kept in the address, the trend's legend and dates, a
phone-width table that still names the rule and the resource, a print layout that cuts no table,
and text contrast of at least WCAG AA."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pdfminer.high_level import extract_pages, extract_text
from pdfminer.layout import LTChar
from report_browser_support import OpenedPage
from report_factory import HOSTILE, NOW, RULES, build_result, trend

from auditor.report import ReportContext, write_reports
from auditor.result import RunPoint, RunResult

pytestmark = pytest.mark.browser

Opener = Callable[..., OpenedPage]
SEVS = ["critical", "high", "medium", "low", "info"]
# A4 (210 mm) less the @page margins (2 x 10 mm), in CSS pixels (96 per inch).
PRINT_WIDTH = round((210 - 20) / 25.4 * 96)


def _html(tmp_path: Path, res: RunResult, points: list[RunPoint] | None = None) -> Path:
    write_reports(res, tmp_path, ["html"],
                  ReportContext(trend=trend(5) if points is None else points, rules=RULES))
    return tmp_path / "report.html"


def _count(opened: OpenedPage) -> str:
    return opened.page.locator("#count").text_content() or ""


def test_the_first_screen_says_what_to_fix_first(tmp_path: Path, open_report: Opener) -> None:
    res = build_result(150)
    opened = open_report(_html(tmp_path, res), width=1400, height=1000)
    page = opened.page
    actions = page.locator("#actions li.action")
    assert actions.count() == 5
    first = actions.first.bounding_box()
    last = actions.last.bounding_box()
    assert first is not None and last is not None and last["y"] + last["height"] <= 1000
    # One action per rule: the most severe first, each with the resources it fixes.
    failing: dict[str, set[tuple[str, object]]] = {}
    worst: dict[str, int] = {}
    for f in res.findings:
        if f.status == "fail":
            failing.setdefault(f.rule_id, set()).add((f.tenant, f.resource.id))
            worst[f.rule_id] = min(worst.get(f.rule_id, 9), SEVS.index(f.severity))
    expected = sorted(failing, key=lambda r: (worst[r], -len(failing[r]), r))[:5]
    shown = actions.evaluate_all("els => els.map(e => e.dataset.rule)")
    assert shown == expected
    counts = page.locator("#actions [data-action-count]").evaluate_all(
        "els => els.map(e => Number(e.dataset.actionCount))")
    assert counts == [len(failing[r]) for r in expected]
    assert "Settings > Advanced > API keys > ‹name›" in actions.first.inner_text()
    # Its button lists exactly what the action fixes.
    actions.first.locator("button[data-show]").click()
    rows = opened.visible_rows()
    assert rows and {(r[0].lower(), r[1], r[3]) for r in rows} <= {
        (s, "fail", expected[0]) for s in SEVS}
    assert _count(opened) == f"{len(failing[expected[0]])} of {len(res.findings)} findings"
    opened.clean()


def test_severity_and_above_and_the_filters_in_the_address(
        tmp_path: Path, open_report: Opener) -> None:
    res = build_result(150, hostile=True)
    path = _html(tmp_path, res)
    opened = open_report(path)
    page = opened.page
    page.select_option("#f-sev", label="High")
    assert {r[0] for r in opened.visible_rows()} == {"High"}
    page.check("#f-sev-above")
    high_up = [f for f in res.findings if f.severity in ("critical", "high")]
    assert _count(opened) == f"{len(high_up)} of {len(res.findings)} findings"
    assert {r[0] for r in opened.visible_rows()} <= {"Critical", "High"}
    page.select_option("#f-status", label="fail")
    hostile_tenant = "<b>globex</b>"
    page.select_option("#f-tenant", label=hostile_tenant)
    url = page.url
    assert "#findings?" in url and "sev=high" in url and "above=1" in url
    assert "status=fail" in url and "tenant=%3Cb%3Eglobex%3C%2Fb%3E" in url
    expected = [f for f in high_up if f.status == "fail" and f.tenant == hostile_tenant]
    # The address alone restores the view, in a fresh page (a bookmark, a link in a ticket).
    again = open_report(path)
    again.page.goto(url)
    again.page.wait_for_function("document.getElementById('f-sev-above').checked")
    assert again.page.locator("#f-sev").input_value() == "1"
    assert _count(again) == f"{len(expected)} of {len(res.findings)} findings"
    assert {r[4] for r in again.visible_rows()} == {hostile_tenant}
    assert again.page.locator("b").count() == 0  # the name from the address stays text
    # A search and a sort go into the address too; Reset clears the filters (not the sort).
    again.page.fill("#q", HOSTILE[0])
    again.page.wait_for_function("q => document.getElementById('count').dataset.query === q",
                                 arg=HOSTILE[0])
    again.page.click("th[data-sort=key] button")
    assert "q=%3Cimg" in again.page.url and "sort=key" in again.page.url
    again.page.click("#reset")
    assert again.page.url.endswith("#findings?sort=key")
    assert _count(again) == f"{len(res.findings)} findings"
    # Values the report does not know are ignored, never an error.
    again.page.goto(path.as_uri() + "#findings?sev=nope&rule=%3Cscript%3E&above=1")
    again.page.wait_for_function(
        f"document.getElementById('count').textContent === '{len(res.findings)} findings'")
    opened.clean()
    again.clean()


def test_the_trend_legend_names_the_dot_and_the_axis_shows_dates(
        tmp_path: Path, open_report: Opener) -> None:
    day = NOW - timedelta(days=1)
    points = [RunPoint(f"r{i}", day + timedelta(hours=3 * i), "complete", 10 + i,
                       {"critical": 1, "high": 9 + i}) for i in range(4)]
    opened = open_report(_html(tmp_path, build_result(20), points))
    page = opened.page
    assert page.locator("#legend-point .swatch-point").is_visible()
    labels = page.locator("svg.trend-chart text.x-label").evaluate_all(
        "els => els.map(e => Array.from(e.querySelectorAll('tspan'), t => t.textContent))")
    assert labels[0] == ["Nov 25", "02:00 UTC"] and labels[-1] == ["Nov 26", "02:00 UTC"]
    assert all(len(label) == 2 and re.fullmatch(r"[A-Z][a-z]{2} \d{2}", label[0])
               for label in labels)
    opened.clean()


def test_at_phone_width_each_row_names_its_rule_and_resource(
        tmp_path: Path, open_report: Opener) -> None:
    res = build_result(60)
    opened = open_report(_html(tmp_path, res), width=390, height=844)
    page = opened.page
    page.locator("#findings-table").scroll_into_view_if_needed()
    cells: list[dict[str, Any]] = page.locator("#rows tr.row").first.locator(
        "td").evaluate_all("""tds => tds.map(td => {
            const r = td.getBoundingClientRect(), s = getComputedStyle(td);
            return {left: r.left, right: r.right, width: r.width, text: td.innerText,
                    shown: s.visibility !== 'hidden' && r.width > 0};
        })""")
    shown = [i for i, c in enumerate(cells) if c["shown"]]
    assert shown == [0, 1, 3, 5]  # severity, status, rule, resource
    for i in (3, 5):
        assert cells[i]["width"] >= 80 and cells[i]["right"] <= 390, cells[i]
        assert cells[i]["text"]
    rule_id = cells[3]["text"]
    assert re.fullmatch(r"SOAR-[A-Z]+-\d{3}", rule_id)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    opened.clean()


def _words(text: str) -> Counter[str]:
    return Counter(re.findall(r"[A-Za-z]+", text))


def test_print_layout_cuts_no_table(tmp_path: Path, open_report: Opener) -> None:
    res = build_result(150)
    opened = open_report(_html(tmp_path, res), width=PRINT_WIDTH, height=1000)
    page = opened.page
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    # At the printed width, no table is wider than its box or the page.
    wide = page.eval_on_selector_all("main table", f"""ts => ts.map(t => [
        t.closest('section').id, t.scrollWidth, t.parentElement.clientWidth,
        t.getBoundingClientRect().right]).filter(x => x[1] > x[2] + 1 || x[3] > {PRINT_WIDTH})""")
    assert wide == []
    heads = page.eval_on_selector_all("#by-tenant th, #by-rule th",
                                      "ths => ths.map(th => th.innerText.trim())")
    assert "Resolved" in heads and "Tenants" in heads
    shown = _words(page.evaluate("document.body.innerText"))
    pdf = page.pdf(prefer_css_page_size=True)
    # @page: A4 (595 x 842 pt); every character inside the page.
    pages = list(extract_pages(BytesIO(pdf)))
    assert {(round(p.width), round(p.height)) for p in pages} == {(595, 842)}
    outside = [c for p in pages for box in p for line in getattr(box, "_objs", [])
               for c in getattr(line, "_objs", []) if isinstance(c, LTChar)
               and (c.x0 < -0.5 or c.x1 > p.width + 0.5)]
    assert outside == []
    # Every header word of the wide tables is printed as often as the page shows it: a table
    # cut at the page edge (or clipped by its scroll box) loses its last columns' words.
    printed = _words(extract_text(BytesIO(pdf)))
    missing = {w: (shown[w], printed[w]) for h in heads for w in re.findall(r"[A-Za-z]+", h)
               if printed[w] < shown[w]}
    assert missing == {}
    page.emulate_media(media="screen")
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    opened.clean()


CONTRAST = """() => {
  const rgb = s => { const m = s.match(/rgba?\\(([^)]+)\\)/); if (!m) { return null; }
    const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92
    : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const back = el => { for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0.99) { return c; } }
    return [255, 255, 255, 1]; };
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('svg, script, style, dialog:not([open]), [hidden]')) { continue; }
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
    const r = el.getBoundingClientRect();
    if (!own || r.width === 0 || r.height === 0) { continue; }
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || Number(s.opacity) === 0) { continue; }
    const bg = back(el), fg = rgb(s.color), a = fg[3];
    const mixed = [0, 1, 2].map(i => fg[i] * a + bg[i] * (1 - a));
    const l1 = lum(mixed), l2 = lum(bg);
    const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
    const need = size >= 24 || (size >= 18.66 && bold) ? 3 : 4.5;
    out.push({sel: el.tagName.toLowerCase() + (el.className ? '.' + String(el.className)
      .trim().split(/\\s+/).join('.') : ''), text: el.textContent.trim().slice(0, 30),
      ratio: Math.round(ratio * 100) / 100, need});
  }
  return out;
}"""


def test_every_text_meets_wcag_aa_contrast(tmp_path: Path, open_report: Opener) -> None:
    opened = open_report(_html(tmp_path, build_result(120)))
    page = opened.page
    measured: list[dict[str, Any]] = page.evaluate(CONTRAST)
    assert len(measured) > 200
    low = [m for m in measured if m["ratio"] < m["need"]]
    assert low == [], low[:10]
    # The two pairs of the issue, by name: the footer, and the Medium badge.
    pairs = {m["sel"]: m["ratio"] for m in measured}
    assert pairs["footer.wrap.footer.muted-text"] >= 4.5
    assert pairs["span.sev.sev-medium"] >= 4.5
    # The row dialog too (its risk, references and badges).
    page.locator("#rows tr.row").first.press("Enter")
    page.wait_for_selector("#detail[open]")
    low = [m for m in page.evaluate(CONTRAST) if m["ratio"] < m["need"]]
    assert low == [], low[:10]
    opened.clean()


def test_the_dialog_and_by_rule_give_the_rule_risk_and_references(
        tmp_path: Path, open_report: Opener) -> None:
    opened = open_report(_html(tmp_path, build_result(60)))
    page = opened.page
    page.locator("#rows tr.row").first.press("Enter")
    page.wait_for_selector("#detail[open]")
    rule = page.locator("#d-rule").inner_text()
    entry = next(r for r in RULES if r["id"] == rule)
    assert page.locator("#d-risk").inner_text() == entry["risk"]  # text, not markup
    links = page.locator("#d-refs a").evaluate_all(
        "as => as.map(a => [a.textContent, a.href, a.rel])")
    assert links == [[r["title"], r["url"], "noopener noreferrer"] for r in entry["references"]]
    page.keyboard.press("Escape")
    why = page.locator(f"#by-rule tr:has(button[data-rule='{rule}']) details.why")
    why.locator("summary").click()
    assert entry["risk"] in why.inner_text()
    assert page.locator("b").count() == 0
    opened.clean()
