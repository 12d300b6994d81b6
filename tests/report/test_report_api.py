"""write_reports: which files a run produces, and what a bad format name does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_factory import NOW, RULES, build_result, trend

from auditor.report import FORMATS, ReportContext, write_reports
from auditor.result import RunResult


def test_json_and_inventory_are_always_written(tmp_path: Path, result: RunResult) -> None:
    out = tmp_path / "new" / "dir"
    paths = write_reports(result, out, [], ReportContext())
    assert paths == [out / "findings.json", out / "inventory.json"]
    data = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(result.to_dict()))
    assert data["schema_version"] == 1 and data["run"]["status"] == "incomplete"
    inventory = json.loads((out / "inventory.json").read_text(encoding="utf-8"))
    assert set(inventory) == set(result.inventories)
    tenant = next(iter(result.inventories))
    assert inventory[tenant] == json.loads(json.dumps(result.inventories[tenant].to_dict()))
    text = (out / "findings.json").read_text(encoding="utf-8")
    assert text.startswith('{\n  "schema_version": 1,\n  "run": {\n    "id": ')
    lines = text.splitlines()
    first = lines.index('  "findings": [') + 1
    for line, finding in zip(lines[first:], result.findings, strict=False):
        assert json.loads(line.strip().rstrip(",")) == json.loads(json.dumps(finding.to_dict()))


def test_findings_json_of_an_empty_run(tmp_path: Path) -> None:
    res = build_result(0, failed_tenant=False)
    write_reports(res, tmp_path, [], ReportContext())
    data = json.loads((tmp_path / "findings.json").read_text("utf-8"))
    assert data["findings"] == [] and data == json.loads(json.dumps(res.to_dict()))


def test_every_format_writes_its_file(tmp_path: Path, result: RunResult) -> None:
    paths = write_reports(result, tmp_path, list(FORMATS),
                          ReportContext(trend=trend(3), rules=RULES))
    assert [p.name for p in paths] == [
        "findings.json", "inventory.json", "report.html", "findings.csv", "junit.xml",
        "findings.ocsf.jsonl", "summary.md", "migration.md", "migration.csv",
        "compliance.md", "compliance.csv",
    ]
    assert all(p.stat().st_size > 0 for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temp


def test_json_format_is_accepted_and_not_written_twice(tmp_path: Path, result: RunResult) -> None:
    paths = write_reports(result, tmp_path, ["html", "json", "csv", "html"], ReportContext())
    assert [p.name for p in paths] == [
        "findings.json", "inventory.json", "report.html", "findings.csv"]


def test_unknown_format_is_refused_before_anything_is_written(
        tmp_path: Path, result: RunResult) -> None:
    with pytest.raises(ValueError, match=r"unknown report format 'pdf'.*choose from json, html"):
        write_reports(result, tmp_path / "out", ["html", "pdf"], ReportContext())
    assert not (tmp_path / "out").exists()


def test_a_lone_surrogate_in_hostile_data_does_not_fail_the_reports(tmp_path: Path) -> None:
    res = build_result(5)
    res.findings[0].resource = type(res.findings[0].resource)("api_key", 1, "bad\ud800name")
    res.findings[0].message = "bad\ud800name"
    paths = write_reports(res, tmp_path, list(FORMATS), ReportContext(rules=RULES))
    for path in paths:
        path.read_text(encoding="utf-8")  # valid UTF-8 everywhere
    assert json.loads((tmp_path / "findings.json").read_text("utf-8"))["findings"]


def test_evidence_values_json_has_no_type_for_are_written(tmp_path: Path) -> None:
    res = build_result(3)
    res.findings[0].evidence = {"created": res.started_at, "tags": {"b", "a"}}
    write_reports(res, tmp_path, list(FORMATS), ReportContext())
    data = json.loads((tmp_path / "findings.json").read_text("utf-8"))
    assert data["findings"][0]["evidence"] == {"created": "2026-11-26T02:00:00Z",
                                              "tags": ["a", "b"]}


def test_a_run_that_audited_nothing_still_reports(tmp_path: Path) -> None:
    res = RunResult("20261126T020000Z", NOW, None, "0.1.0", tenants=[], findings=[])
    paths = write_reports(res, tmp_path, list(FORMATS), ReportContext(rules=RULES))
    assert len(paths) == 11
    html = (tmp_path / "report.html").read_text("utf-8")
    assert "Audit FAILED" in html and "Nothing was audited" in html
    assert "Audit FAILED: nothing was audited" in (tmp_path / "summary.md").read_text("utf-8")
