"""One home for each vocabulary (auditor/vocab.py): severities, statuses, formats, frameworks.

The stages use the same objects, and a second definition creeping back into the package fails
the source scan below (the files that still hold a copy are listed, each must still hold it, so
the list only shrinks)."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from auditor import config, report, vocab
from auditor.config import ReportsConfig, SlackConfig
from auditor.engine import findings, schema
from auditor.engine.rules import builtin_rules
from auditor.report import views

ROOT = Path(__file__).resolve().parents[2] / "auditor"

# Copies still held by files this change did not own (their owners replace them with imports
# of auditor.vocab): path -> how many matching lines.
KNOWN_COPIES: dict[str, int] = {
    "engine/findings.py": 4,  # Severity, SEVERITIES, SEVERITY_RANK, Status
    "report/htmldata.py": 1,  # STATUSES
    "report/compliance_out.py": 1,  # ("fail", "unknown", "muted")
    "report/migration.py": 1,  # LEFT
    "result.py": 1,  # _STATUS_RANK
    "cli/history.py": 1,  # the default formats
    "cli/filters.py": 1,  # STATUSES
    "cli/run.py": 1,  # SEVERITY_CHOICES
    "cli/summary.py": 2,  # SEVERITY_COLUMNS, HEADERS_FULL
    "pipeline.py": 1,  # ("fail", "unknown") of --fail-on
}
COPY = re.compile(
    r'"critical",\s*"high"|"fail",\s*"unknown"|b"fail"|"html",\s*"json"|"json",\s*"html"'
    r'|"junit",\s*"ocsf"|"(NIST SP 800-53|CIS Controls|SOC 2|ISO/IEC 27001)'
    r"|(SEVERITY_RANK|STATUS_RANK)\w*\s*(:[^=]*)?=[^=]|Literal\[\"(critical|fail|html)\"")


def test_no_second_definition_in_the_package() -> None:
    found: dict[str, int] = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel == "vocab.py" or rel.startswith("simulator/"):
            continue
        hits = [line for line in path.read_text(encoding="utf-8").splitlines()
                if COPY.search(line)]
        if hits:
            found[rel] = len(hits)
    assert found == KNOWN_COPIES


def test_formats_config_accepts_are_the_report_writers() -> None:
    item = typing.get_args(typing.get_type_hints(ReportsConfig)["formats"])[0]
    assert typing.get_args(item) == vocab.FORMATS
    assert set(report.REPORTERS) == set(vocab.FORMATS)
    assert report.FORMATS is vocab.FORMATS and config.FORMATS is vocab.FORMATS
    assert ReportsConfig().formats == list(vocab.DEFAULT_FORMATS)


def test_severities_and_statuses() -> None:
    assert typing.get_args(typing.get_type_hints(SlackConfig)["min_severity"]) == vocab.SEVERITIES
    assert typing.get_args(typing.get_type_hints(schema.RuleFile)["severity"]) == vocab.SEVERITIES
    assert findings.SEVERITIES == vocab.SEVERITIES
    assert findings.SEVERITY_RANK == vocab.SEVERITY_RANK
    assert vocab.SEVERITY_RANK["critical"] > vocab.SEVERITY_RANK["info"]
    assert typing.get_args(findings.Status) == vocab.STATUSES
    assert [vocab.STATUS_RANK[s] for s in vocab.STATUSES] == [0, 1, 2, 3]
    assert set(vocab.OPEN_STATUSES) < set(vocab.LEFT_STATUSES) < set(vocab.STATUSES)


def test_frameworks_of_the_rules_are_the_vocabulary() -> None:
    used = {f for r in builtin_rules() for f in r.frameworks}
    assert used == set(vocab.FRAMEWORKS)
    assert schema.FRAMEWORKS is vocab.FRAMEWORKS
    assert views.FRAMEWORK_LABELS is vocab.FRAMEWORK_LABELS
    for framework, title in vocab.FRAMEWORK_TITLES.items():
        # the rule catalog (`rules show`) and the reports name a framework alike
        assert views.framework_label(framework) == title
        rule = next(r for r in builtin_rules() if framework in r.frameworks)
        assert rule.metadata()["frameworks"][framework] == title
