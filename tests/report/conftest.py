"""Fixtures of the report tests: realistic results, and a real headless Chromium.

Chromium is Debian's `chromium` package driven by Playwright (`executable_path`, no
`playwright install`). When it is missing the browser tests skip, except under CI=true where
they fail.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # report_factory, report_browser_support

from report_browser_support import OpenedPage
from report_factory import RULES, build_result, trend

from auditor.report import ReportContext, write_reports
from auditor.result import RunResult

CHROMIUM = os.environ.get("SOAR_AUDITOR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture
def result() -> RunResult:
    return build_result(60)


@pytest.fixture
def hostile() -> RunResult:
    return build_result(40, hostile=True)


@pytest.fixture
def context() -> ReportContext:
    return ReportContext(trend=trend(5), rules=RULES)


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(result, fmt, context=None) -> the path of that format's file."""

    def _write(res: RunResult, fmt: str, ctx: ReportContext | None = None) -> Path:
        paths = write_reports(res, tmp_path / fmt, [fmt], ctx or ReportContext(rules=RULES))
        return paths[-1]

    return _write


# -- browser ---------------------------------------------------------------------------------
def _chromium_or_skip() -> None:
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_report(browser: Any) -> Iterator[Callable[..., OpenedPage]]:
    """open_report(path) -> the loaded page, with every non-file/data request blocked and
    recorded, and console errors, page errors and dialogs (alert/confirm) recorded."""
    contexts: list[Any] = []

    def _open(path: Path, width: int = 1400, height: int = 1000) -> OpenedPage:
        ctx = browser.new_context(viewport={"width": width, "height": height},
                                  service_workers="block")
        contexts.append(ctx)
        page = ctx.new_page()
        opened = OpenedPage(page)

        def route(r: Any) -> None:
            url = r.request.url
            if url.startswith(("file:", "data:")):
                r.continue_()
            else:
                opened.blocked.append(url)
                r.abort()

        ctx.route("**/*", route)
        page.on("console", lambda m: opened.console_errors.append(m.text)
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: opened.page_errors.append(str(e)))

        def on_dialog(d: Any) -> None:
            opened.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", on_dialog)
        page.on("request", lambda r: None if r.url.startswith(("file:", "data:"))
                else opened.blocked.append(r.url))
        page.goto(path.as_uri())
        page.wait_for_selector("html[data-ready=true]", timeout=15000)
        return opened

    yield _open
    for ctx in contexts:
        ctx.close()
