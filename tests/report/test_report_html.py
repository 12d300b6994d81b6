"""report.html as a file: self-contained, CSP hashes match, data block cannot be broken out of,
static sections escape hostile text. (Behaviour in a browser: test_report_browser.py.)"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from report_factory import HOSTILE, RULES, build_result, trend

from auditor.report import ReportContext
from auditor.report import html as html_report
from auditor.report.htmldata import script_json
from auditor.result import RunResult


class Page(HTMLParser):
    """Tags, attributes and the raw text of <script>/<style> elements, as a browser parses them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.raw: list[tuple[str, dict[str, str | None], str]] = []
        self._open: tuple[str, dict[str, str | None]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._open = (tag, dict(attrs))
            self.raw.append((tag, dict(attrs), ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            tag, attrs, text = self.raw[-1]
            self.raw[-1] = (tag, attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._open = None


def _page(path: Path) -> tuple[str, Page]:
    text = path.read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    return text, page


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_csp_allows_exactly_the_inline_script_and_style(
        hostile: RunResult, write: Callable[..., Path]) -> None:
    _, page = _page(write(hostile, "html"))
    metas = [a for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert metas[0]["http-equiv"] == "Content-Security-Policy"
    csp = metas[0]["content"] or ""
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    scripts = [(a, text) for t, a, text in page.raw if t == "script"]
    styles = [text for t, _, text in page.raw if t == "style"]
    assert len(scripts) == 2 and len(styles) == 1
    executable = [text for a, text in scripts if a.get("type") != "application/json"]
    assert directives["script-src"] == _sha(executable[0])
    assert directives["style-src"] == _sha(styles[0])
    assert directives["default-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["require-trusted-types-for"] == "'script'"
    # The CSP comes before anything it governs.
    assert [t for t, _ in page.tags].index("meta") < [t for t, _ in page.tags].index("style")


def test_self_contained_no_url_that_could_load_anything(
        hostile: RunResult, write: Callable[..., Path]) -> None:
    _, page = _page(write(hostile, "html"))
    references = {ref["url"] for rule in RULES for ref in rule["references"]}
    for tag, attrs in page.tags:
        for name in ("src", "href", "action", "srcset", "poster", "data"):
            value = attrs.get(name)
            if value is None:
                continue
            if tag == "a" and name == "href" and value in references:
                # A rule's reference: a link the reader may follow, never loaded by the page.
                assert attrs.get("rel") == "noopener noreferrer", attrs
                continue
            assert value.startswith(("#", "data:")), (tag, name, value)
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)  # no inline handlers
    assert not [t for t, _ in page.tags if t in ("img", "iframe", "object", "embed", "base")]


def test_data_block_cannot_be_broken_out_of_and_round_trips(
        hostile: RunResult, write: Callable[..., Path]) -> None:
    text, page = _page(write(hostile, "html"))
    data_text = next(t for tag, a, t in page.raw if a.get("type") == "application/json")
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in data_text
    assert text.count("</script>") == 2  # only our two elements end a script
    data = json.loads(data_text)
    names = {row[8] for row in data["f"]}
    assert set(HOSTILE) <= names  # exact values after JSON.parse
    assert len(data["f"]) == len(hostile.findings)
    # What the page rebuilds from the compact rows is exactly each finding (as report.js does).
    by_id = {f.id: f for f in hostile.findings}
    for row in data["f"]:
        f = by_id[row[0]]
        name = row[8]
        for index, text in ((row[9], f.message), (row[11], f.remediation)):
            shown = index if isinstance(index, str) else data["s"][index].replace("\x00", name)
            assert shown == text
        evidence = ({} if row[15] == 0 else
                    dict(zip(data["ek"][row[15][0]], [data["ev"][i] for i in row[15][1:]],
                             strict=True)))
        assert evidence == json.loads(json.dumps(f.evidence))
        assert (data["x"][row[13]] if row[13] >= 0 else None) == f.exception
    assert script_json({"k": "</script><!--\u2028"}) == \
        '{"k":"\\u003c/script\\u003e\\u003c!--\\u2028"}'


def test_static_sections_show_hostile_text_escaped(
        hostile: RunResult, write: Callable[..., Path]) -> None:
    text, page = _page(write(hostile, "html"))
    body = text[: text.index('<script type="application/json"')]
    assert "<img" not in body and "<b>globex" not in body
    assert "&lt;b&gt;globex&lt;/b&gt;" in body  # tenant not audited, by name
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in body  # drift detail
    assert "\x1b" not in body and "\u202e" not in body  # control/bidi shown as escapes
    assert [t for t, _ in page.tags].count("script") == 2


def test_header_counts_and_incomplete_banner(write: Callable[..., Path]) -> None:
    res = build_result(80)
    text = write(res, "html").read_text("utf-8")
    summary = res.summary()
    assert f'<p class="card-value" id="failing-total">{summary["failing"]}</p>' in text
    for sev, n in summary["by_severity"].items():
        assert f'data-severity-count="{sev}">{n}</p>' in text
    assert 'id="incomplete-banner"' in text and "Audit INCOMPLETE" in text
    complete = build_result(20, failed_tenant=False)
    text = write(complete, "html").read_text("utf-8")
    assert 'id="incomplete-banner"' not in text and "Audit complete" in text


def test_trend_has_one_column_per_run_and_this_run_once(write: Callable[..., Path]) -> None:
    res = build_result(20)
    stored = trend(6)
    text = write(res, "html", ReportContext(trend=stored, rules=RULES)).read_text("utf-8")
    runs = re.findall(r'<g class="trend-run[^"]*" data-run="([^"]+)"', text)
    assert runs == [p.run_id for p in stored] + [res.run_id]
    # When the state store already holds this run, it is not drawn twice.
    from report_factory import NOW

    from auditor.result import RunPoint
    again = [*stored, RunPoint(res.run_id, NOW, "complete", 1, {"high": 1})]
    text = write(res, "html", ReportContext(trend=again, rules=RULES)).read_text("utf-8")
    assert len(re.findall(r'<g class="trend-run', text)) == 7


def test_every_template_autoescapes_with_strict_undefined() -> None:
    env = html_report.environment()
    assert env.undefined.__name__ == "StrictUndefined"
    assert env.autoescape is True  # for every template, whatever its file name
    pages = [n for n in env.list_templates() if n.endswith(".j2") and n != "_macros.html.j2"]
    assert pages == ["_migration.html.j2", "_views.html.j2", "report.html.j2"]
    for name in pages:
        with pytest.raises(UndefinedError):
            env.get_template(name).render()  # a missing value is an error, never blank
    assert env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"


def test_inlined_assets_cannot_end_their_element() -> None:
    for name in ("report.js", "report.css"):
        asset = html_report._asset(name)
        assert "</" not in asset.text and "<!--" not in asset.text


def test_trend_draws_nothing_for_bad_stored_counts(write: Callable[..., Path]) -> None:
    from report_factory import NOW

    from auditor.result import RunPoint
    odd = [RunPoint("r0", NOW.replace(day=1), "complete", 0, {"high": -3, "low": 2, "x": 9}),
           RunPoint("r1", NOW.replace(day=2), "failed", 0, {})]
    text = write(build_result(5), "html", ReportContext(trend=odd)).read_text("utf-8")
    heights = [float(h) for h in re.findall(r'<rect class="bar[^"]*"[^>]* height="([^"]+)"', text)]
    assert heights and min(heights) > 0
    assert len(re.findall(r'<g class="trend-run', text)) == 3
