"""Open a big report.html in headless Chromium and time what a reader waits for.

    .venv/bin/python benchmarks/report_browser.py [FINDINGS] [REPORT_HTML]

Writes the report first (FINDINGS, default 100,000, over 1,000 tenants) unless REPORT_HTML is
given. Prints: first contentful paint, first rows shown (data parsed, table drawn), a filter
change, when the search index is ready, two free-text searches, a jump to the
middle of the table, a sort, and the JS heap used.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "report"))

from report_factory import RULES, build_result, trend  # noqa: E402

from auditor.report import ReportContext, write_reports  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TIMED = """([sel, value]) => {
    const el = document.querySelector(sel);
    const t0 = performance.now();
    el.value = value;
    el.dispatchEvent(new Event(sel === '#q' ? 'submit' : 'change', {bubbles: true}));
    if (sel === '#q') { document.getElementById('filters').dispatchEvent(new Event('submit')); }
    return new Promise(ok => requestAnimationFrame(() => setTimeout(
        () => ok([performance.now() - t0, document.getElementById('count').textContent]), 0)));
}"""


def _report(argv: list[str]) -> Path:
    if len(argv) > 2:
        return Path(argv[2])
    n = int(argv[1]) if len(argv) > 1 else 100_000
    out = Path("/tmp/report-browser-bench")
    write_reports(build_result(n, tenants=1000), out, ["html"],
                  ReportContext(trend=trend(90), rules=RULES))
    return out / "report.html"


def _open(browser: Any, path: Path) -> tuple[Any, dict[str, float]]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:"))
               else r.abort())
    start = time.perf_counter()
    page.goto(path.as_uri(), wait_until="commit")
    page.wait_for_selector("html[data-ready=true]", timeout=120_000)
    wall = time.perf_counter() - start
    marks = page.evaluate("""() => ({
        fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || -1,
        rows: performance.getEntriesByName('report-rows')[0].startTime,
        heap: performance.memory ? performance.memory.usedJSHeapSize : -1,
    })""")
    marks["wall"] = wall * 1000
    return page, marks


def main() -> None:
    path = _report(sys.argv)
    from playwright.sync_api import sync_playwright

    print(f"report: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        loads = []
        for _ in range(3):
            page, marks = _open(browser, path)
            loads.append(marks)
            page.close()
        page, marks = _open(browser, path)
        med = {k: statistics.median(m[k] for m in loads) for k in ("fcp", "rows", "wall")}
        print(f"first contentful paint  {med['fcp']:8.0f} ms  (median of 3 loads)")
        print(f"first rows shown        {med['rows']:8.0f} ms  (wall clock {med['wall']:.0f} ms)")
        print(f"JS heap after load      {marks['heap'] / 1e6:8.0f} MB")
        rows = page.locator("#rows tr.row").count()
        print(f"table rows in the DOM   {rows:8d}     (of {page.locator('#count').text_content()})")
        page.wait_for_function("() => performance.getEntriesByName('report-index').length > 0")
        index = page.evaluate("() => performance.getEntriesByName('report-index')[0].startTime")
        print(f"search index ready      {index:8.0f} ms  (built in slices after the first rows)")
        for label, sel, value in [
            ("filter severity=high", "#f-sev", "1"),
            ("filter status=unknown", "#f-status", "1"),
            ("reset filters", "#f-status", ""),
            ("search \"bot-4\"", "#q", "bot-4"),
            ("search 2 words", "#q", "acme-007 env"),
        ]:
            if label == "reset filters":
                page.evaluate("() => { document.getElementById('f-sev').value = ''; }")
            took, count = page.evaluate(TIMED, [sel, value])
            print(f"{label:<23} {took:8.0f} ms  -> {count}")
        page.evaluate("() => { document.getElementById('q').value = ''; }")
        page.evaluate(TIMED, ["#f-sev", ""])
        t0 = time.perf_counter()
        page.evaluate("""() => new Promise(ok => {
            const s = document.getElementById('table-scroll');
            s.scrollTop = s.scrollHeight / 2;
            requestAnimationFrame(() => requestAnimationFrame(ok));
        })""")
        shown = page.locator("#rows tr.row").first.get_attribute("data-pos")
        print(f"jump to the middle      {(time.perf_counter() - t0) * 1000:8.0f} ms  "
              f"(first row shown: #{shown})")
        t0 = time.perf_counter()
        page.click("th[data-sort=tenant] button")
        page.wait_for_function("() => document.querySelector('th[data-sort=tenant]')"
                               ".getAttribute('aria-sort') === 'ascending'")
        print(f"sort by tenant          {(time.perf_counter() - t0) * 1000:8.0f} ms")
        browser.close()


if __name__ == "__main__":
    main()
