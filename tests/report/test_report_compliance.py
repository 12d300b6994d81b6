"""compliance.md and compliance.csv (``--format compliance``): one row per control of each
framework, its verdict, and the findings that evidence it; hostile names stay text."""

from __future__ import annotations

import csv
from collections.abc import Callable
from html import unescape
from pathlib import Path

from markdown_it import MarkdownIt
from report_factory import RULE_BY_ID, RULES, build_result

from auditor.config import FORMATS
from auditor.report import REPORTERS, ReportContext, views, write_reports
from auditor.result import RunResult

GFM = MarkdownIt("commonmark", {"html": True}).enable(["table"])


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_compliance_is_a_format_of_the_config_and_the_registry() -> None:
    assert "compliance" in FORMATS and "compliance" in REPORTERS


def test_one_row_per_control_with_its_verdict_counts_and_evidence(
        tmp_path: Path, result: RunResult) -> None:
    paths = write_reports(result, tmp_path, ["compliance"], ReportContext(rules=RULES))
    assert [p.name for p in paths][-2:] == ["compliance.md", "compliance.csv"]
    rows = _csv(tmp_path / "compliance.csv")
    frameworks = views.control_views(result, RULES, views.rule_views(result, RULES))
    expected = {(fw.key, c.control): c for fw in frameworks for c in fw.controls}
    assert {(r["framework"], r["control"]) for r in rows} == set(expected)
    assert len(rows) == len(expected)  # one row per control
    for row in rows:
        control = expected[(row["framework"], row["control"])]
        assert row["verdict"] == control.verdict
        assert int(row["failing"]) == control.failing
        assert int(row["passed"]) == control.passed
        against = [f for f in result.findings if f.status in ("fail", "unknown", "muted")
                   and row["control"] in f.compliance.get(row["framework"], [])]
        assert int(row["evidence_findings"]) == len(against)
        ids = row["finding_ids"].split()
        assert set(ids) <= {f.id for f in against} and len(ids) == min(len(against), 50)
        for rule in row["rules"].split():
            for ref in RULE_BY_ID[rule]["references"]:
                assert ref["url"] in row["references"]
    ac6 = next(r for r in rows if (r["framework"], r["control"]) == ("nist-800-53-r5", "AC-6"))
    assert ac6["verdict"] == "fail"
    assert ac6["framework_title"] == "NIST SP 800-53 Rev. 5"
    assert "SOAR-ENV-001 fail: acme-" in ac6["evidence"]


def test_markdown_lists_each_control_and_the_rules_risk_and_references(
        tmp_path: Path, result: RunResult) -> None:
    write_reports(result, tmp_path, ["compliance"], ReportContext(rules=RULES))
    md = (tmp_path / "compliance.md").read_text("utf-8")
    assert "The audit is incomplete" in md  # a tenant was not audited
    assert "### NIST SP 800-53 Rev. 5 (`nist-800-53-r5`)" in md
    assert "| AC-6 | **fail** |" in md
    html = GFM.render(md)
    rule = RULE_BY_ID["SOAR-ENV-001"]
    assert unescape(rule["risk"]) in unescape(html).replace("\\", "")
    assert f'href="{rule["references"][0]["url"]}"' in html
    assert "<b>unless</b>" not in html  # the risk text is text


def test_hostile_names_stay_text(tmp_path: Path, write: Callable[..., Path]) -> None:
    res = build_result(40, hostile=True)
    write_reports(res, tmp_path, ["compliance"], ReportContext(rules=RULES))
    html = GFM.render((tmp_path / "compliance.md").read_text("utf-8"))
    for tag in ("<img", "<script", "<b>globex"):
        assert tag not in html
    for row in _csv(tmp_path / "compliance.csv"):
        assert not any(v.startswith(("=", "+", "-", "@")) for v in row.values())


def test_a_run_without_mappings_says_so(tmp_path: Path) -> None:
    res = build_result(0, failed_tenant=False)
    write_reports(res, tmp_path, ["compliance"], ReportContext(rules=[]))
    assert "No rule carries a compliance mapping." in (
        tmp_path / "compliance.md").read_text("utf-8")
    assert _csv(tmp_path / "compliance.csv") == []
