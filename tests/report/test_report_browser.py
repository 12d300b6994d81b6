"""report.html in a real headless Chromium: loads clean and offline, filters work, hostile text
stays text, the trend has one column per stored run, the CSP is enforced."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from report_browser_support import OpenedPage
from report_factory import HOSTILE, RULES, build_result, trend

from auditor.report import ReportContext, write_reports
from auditor.result import RunResult

pytestmark = pytest.mark.browser

Opener = Callable[..., OpenedPage]


def search(opened: OpenedPage, text: str) -> None:
    """Type into the search box and wait until the table shows that search."""
    opened.page.fill("#q", text)
    opened.page.wait_for_function(
        "q => document.getElementById('count').dataset.query === q", arg=text)


def _html(tmp_path: Path, res: RunResult, runs: int = 5) -> Path:
    ctx = ReportContext(trend=trend(runs), rules=RULES)
    write_reports(res, tmp_path, ["html"], ctx)
    return tmp_path / "report.html"


def test_loads_with_no_console_error_and_no_network_request(
        tmp_path: Path, open_report: Opener) -> None:
    res = build_result(120)
    opened = open_report(_html(tmp_path, res))
    page = opened.page
    assert page.locator("#count").text_content() == f"{len(res.findings)} findings"
    assert 0 < len(opened.visible_rows()) < len(res.findings)  # only what is visible
    # The incomplete run is impossible to miss: banner and status badge.
    assert page.locator("#incomplete-banner").is_visible()
    assert "INCOMPLETE" in (page.locator("#run-status").text_content() or "")
    assert page.title().startswith("INCOMPLETE")
    opened.clean()


def test_search_and_filters_change_the_visible_rows(tmp_path: Path, open_report: Opener) -> None:
    res = build_result(150)
    opened = open_report(_html(tmp_path, res))
    page = opened.page
    total = len(res.findings)

    page.select_option("#f-sev", label="Critical")
    rows = opened.visible_rows()
    critical = sum(1 for f in res.findings if f.severity == "critical")
    assert rows and all(r[0] == "Critical" for r in rows)
    assert page.locator("#count").text_content() == f"{critical} of {total} findings"

    page.select_option("#f-status", label="fail")
    assert all(r[1] == "fail" for r in opened.visible_rows())
    page.click("#reset")

    tenant = res.findings[3].tenant
    page.select_option("#f-tenant", label=tenant)
    assert {r[4] for r in opened.visible_rows()} == {tenant}
    page.click("#reset")

    page.select_option("#f-lifecycle", label="reopened")
    assert {r[2] for r in opened.visible_rows()} == {"reopened"}
    page.click("#reset")

    page.select_option("#f-rule", index=1)
    assert len({r[3] for r in opened.visible_rows()}) == 1
    page.click("#reset")

    target = next(f for f in res.findings if f.resource.type == "api_key")
    search(opened, target.resource.name)
    rows = opened.visible_rows()
    assert rows and len(rows) < total
    assert all(target.resource.name in r[5] for r in rows)
    search(opened, f"{target.tenant} {target.rule_id}")  # every word must match
    assert {(r[3], r[4]) for r in opened.visible_rows()} == {(target.rule_id, target.tenant)}

    search(opened, "no-such-key-anywhere")
    assert page.locator("#empty").is_visible()
    assert opened.visible_rows() == []
    opened.clean()


def test_sorting_and_the_view_links(tmp_path: Path, open_report: Opener) -> None:
    res = build_result(80)
    opened = open_report(_html(tmp_path, res))
    page = opened.page
    page.click("th[data-sort=tenant] button")
    tenants = [r[4] for r in opened.visible_rows()]
    assert tenants == sorted(tenants, key=str.lower)
    page.click("th[data-sort=tenant] button")
    tenants = [r[4] for r in opened.visible_rows()]
    assert tenants == sorted(tenants, key=str.lower, reverse=True)
    # "By rule" -> the findings table filtered on that rule.
    page.click("#by-rule button[data-rule='SOAR-AGE-001']")
    rows = opened.visible_rows()
    assert rows and {r[3] for r in rows} == {"SOAR-AGE-001"}
    page.click("#compliance button[data-framework='nist-800-53-r5'][data-control='IA-5']")
    assert {r[3] for r in opened.visible_rows()} == {"SOAR-AGE-001"}
    opened.clean()


def test_hostile_key_names_show_as_text_and_no_dialog_opens(
        tmp_path: Path, open_report: Opener) -> None:
    res = build_result(40, hostile=True)
    opened = open_report(_html(tmp_path, res))
    page = opened.page
    search(opened, "onerror")
    rows = opened.visible_rows()
    assert rows and rows[0][5].startswith(HOSTILE[0])
    # Open its evidence: the name is text in the dialog too.
    page.locator("#rows tr.row").first.press("Enter")
    page.wait_for_selector("#detail[open]")
    assert HOSTILE[0] in (page.locator("#d-message").text_content() or "")
    page.keyboard.press("Escape")
    # No element was created from the data: no <img> anywhere, no injected <script>.
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 2
    assert page.locator("b").count() == 0  # the tenant "<b>globex</b>" is text
    text = page.locator("body").inner_text()
    assert "<b>globex</b>" in text and "</script><script>alert(1)</script>" in text
    # Control and bidi characters are visible escapes, not obeyed.
    search(opened, "line")
    assert any("\\x1b[31mred" in r[5] and "\\u202e" in r[5] for r in opened.visible_rows())
    opened.clean()


def test_keyboard_rows_are_focusable_and_enter_opens_the_evidence(
        tmp_path: Path, open_report: Opener) -> None:
    res = build_result(200)
    opened = open_report(_html(tmp_path, res))
    page = opened.page
    page.focus("#reset")
    for _ in range(8):  # the eight sort buttons of the header, then the table's one tab stop
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.tagName") == "BUTTON"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.pos") == "0"
    pos = "document.activeElement.dataset.pos"
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    assert page.evaluate(pos) == "3"
    page.keyboard.press("PageDown")
    page.keyboard.press("PageDown")  # past the first screen: rows appear as focus moves down
    far = int(page.evaluate(pos))
    assert far > 30
    page.keyboard.press("ArrowUp")
    assert page.evaluate(pos) == str(far - 1)
    assert page.evaluate("document.activeElement.getBoundingClientRect().bottom") <= 1000
    page.keyboard.press("Enter")
    page.wait_for_selector("#detail[open]")
    assert page.locator("#d-remediation").text_content()
    assert "Settings > Advanced > API keys" in (page.locator("#d-remediation").text_content() or "")
    assert page.locator("#d-evidence dt").count() >= 3
    page.keyboard.press("Escape")
    page.wait_for_selector("#detail:not([open])", state="attached")
    assert page.evaluate(pos) == str(far - 1)  # focus back on the row
    page.keyboard.press("End")
    assert page.evaluate(pos) == str(len(res.findings) - 1)
    opened.clean()


def test_trend_chart_shows_one_point_per_stored_run(tmp_path: Path, open_report: Opener) -> None:
    opened = open_report(_html(tmp_path, build_result(30), runs=9))
    page = opened.page
    assert page.locator("svg.trend-chart g.trend-run").count() == 10  # 9 stored + this run
    assert page.locator("svg.trend-chart g.trend-run circle.point").count() == 10
    assert page.locator("svg.trend-chart g.trend-current").count() == 1
    box = page.locator("svg.trend-chart").bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 100
    opened.clean()


def test_csp_is_present_and_enforced(tmp_path: Path, open_report: Opener) -> None:
    opened = open_report(_html(tmp_path, build_result(20)))
    page = opened.page
    csp = page.get_attribute("meta[http-equiv=Content-Security-Policy]", "content") or ""
    assert "script-src 'sha256-" in csp and "unsafe-inline" not in csp
    opened.clean()  # the page's own script and style ran under it with no violation
    # Anything not allowed by hash is refused, and the refusal is a console error.
    page.evaluate("""() => {
        const st = document.createElement('style');
        st.textContent = 'body { display: none }';
        document.head.appendChild(st);
        const img = document.createElement('img');
        img.src = 'https://example.com/pixel.png';
        document.body.appendChild(img);
    }""")
    page.wait_for_timeout(100)
    assert page.locator("body").is_visible()
    violations = [e for e in opened.console_errors if "Content Security Policy" in e]
    assert any("style-src" in e for e in violations), opened.console_errors
    assert any("img-src" in e for e in violations), opened.console_errors
    # Trusted Types: no string becomes markup or script, even from the page's own code.
    errors = page.evaluate("""() => ['innerHTML', 'script'].map(kind => {
        try {
            if (kind === 'innerHTML') { document.body.innerHTML = '<i>x</i>'; }
            else { document.createElement('script').textContent = 'window.__x = 1'; }
            return 'allowed';
        } catch (e) { return e.name; }
    })""")
    assert errors == ["TypeError", "TypeError"]


def test_print_shows_the_rows_of_the_view(tmp_path: Path, open_report: Opener) -> None:
    res = build_result(150)
    opened = open_report(_html(tmp_path, res))
    page = opened.page
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert len(opened.visible_rows()) == len(res.findings)
    assert page.locator("#filters").is_hidden()
    pdf = page.pdf()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    page.emulate_media(media="screen")
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert len(opened.visible_rows()) < len(res.findings)
    opened.clean()


def test_an_empty_run_loads_clean(tmp_path: Path, open_report: Opener) -> None:
    res = build_result(0, failed_tenant=False)
    opened = open_report(_html(tmp_path, res, runs=0))
    assert opened.page.locator("#empty").text_content() == "No findings in this run."
    assert opened.page.locator("svg.trend-chart g.trend-run").count() == 1
    opened.clean()


def test_migrated_tenants_and_their_group_findings_say_so(
        tmp_path: Path, open_report: Opener) -> None:
    from test_report_auth_drift import GROUP_RULES, migrated

    from auditor.engine.evaluate import MIGRATED_NOTE

    res = migrated(build_result(120))
    opened = open_report(_html(tmp_path, res))
    page = opened.page
    row = page.locator("#by-tenant tbody tr", has_text="acme-001")
    assert row.locator("td").nth(2).inner_text() == "Google (migrated instance)"
    assert page.locator("#by-tenant tbody tr", has_text="acme-000").locator(
        "td").nth(2).inner_text() == "AppKey"
    assert page.locator("#google-tenants").is_visible()
    target = next(f for f in res.findings if f.tenant == "acme-001"
                  and f.rule_id in GROUP_RULES and f.status == "fail")
    search(opened, f"{target.resource.name} {target.rule_id}")
    page.locator("#rows tr.row").first.press("Enter")
    page.wait_for_selector("#detail[open]")
    evidence = page.locator("#d-evidence").inner_text()
    assert "Authentication\ngoogle" in evidence and MIGRATED_NOTE in evidence
    page.keyboard.press("Escape")
    drift = page.locator("#drift tbody tr")
    assert drift.count() == len(res.drift)
    assert drift.first.inner_text().split("\t")[:2] == ["GetApiKeys", "lastUsedTimeUnixTimeInMs"]
    opened.clean()


def test_migration_view_renders_the_countdown_and_the_plan(
        tmp_path: Path, open_report: Opener) -> None:
    from dataclasses import replace

    from report_factory import MIG_RULE, mig_finding, with_legacy_keys

    keys = [mig_finding(3000 + i, name, tenant=f"acme-00{i % 3}", snapshot=i % 2 == 0,
                        days_left=12) for i, name in enumerate(HOSTILE)]
    res = with_legacy_keys(build_result(60), keys)
    stored = [replace(p, legacy_keys=20 - i) for i, p in enumerate(trend(5))]
    write_reports(res, tmp_path, ["html"], ReportContext(trend=stored, rules=[*RULES, MIG_RULE]))
    opened = open_report(tmp_path / "report.html")
    page = opened.page
    assert page.locator("#migration-banner").is_visible()
    page.click("#migration-banner a")
    countdown = page.locator("#migration-countdown")
    assert countdown.is_visible()
    assert countdown.locator(".countdown-value").inner_text().split() == ["12", "days", "left"]
    assert "8 legacy API keys left in 3 tenant(s)" in countdown.inner_text()
    assert "2027-03-31" in countdown.inner_text()
    tenants = page.locator("#migration-tenants tbody tr")
    assert tenants.count() == 4  # three with keys, and the tenant that was not audited
    assert "not audited" in tenants.first.inner_text()
    rows = page.locator("#migration-keys tbody tr")
    assert rows.count() == len(HOSTILE)
    row = page.locator("#migration-keys tbody tr", has_text="onerror")
    cells = row.locator("td")
    assert cells.nth(1).inner_text().startswith(HOSTILE[0])  # a name, shown as text
    assert cells.nth(4).inner_text() == (
        "serviceAccount:soar-key-3000@acme-secops.iam.gserviceaccount.com")
    assert "Environments: * (instead of a snapshot)" in cells.nth(5).inner_text()
    assert page.locator("img").count() == 0 and page.locator("script").count() == 2
    # The trend draws the legacy keys left of every run that counted them (5 stored + this).
    assert page.locator("svg.trend-chart circle.legacy-point").count() == 6
    assert page.locator("svg.trend-chart path.legacy-line").count() == 1
    assert page.locator("#legend-legacy").is_visible()
    # The view's link filters the findings table to the rule; a row opens the replacement.
    page.click("#migration button[data-rule='SOAR-MIG-001']")
    visible = opened.visible_rows()
    assert visible and {r[3] for r in visible} == {"SOAR-MIG-001"}
    page.locator("#rows tr.row").first.press("Enter")
    page.wait_for_selector("#detail[open]")
    evidence = page.locator("#d-evidence").inner_text()
    assert "Legacy API shutdown\n2027-03-31" in evidence and "Days left\n12" in evidence
    assert "identity: serviceAccount:soar-key-" in evidence
    assert "mapping: {display name: " in evidence
    page.keyboard.press("Escape")
    opened.clean()
