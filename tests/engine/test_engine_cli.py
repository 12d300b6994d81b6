"""`soar-auditor rules list | show | validate`, through the real click command."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from auditor.cli import main

RULE = """\
id: ACME-KEY-001
title: "Evil \\x1b[2J title"
severity: low
description: d
remediation: "Settings > Advanced > API keys > {name}"
when: {fact: is_system, equals: true}
message: "{name}"
"""


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_list_shows_every_rule() -> None:
    code, out, _ = invoke("rules", "list")
    assert code == 0
    for rule_id in ("SOAR-ENV-001", "SOAR-PG-001", "SOAR-AUDIT-001", "SOAR-CHG-002"):
        assert rule_id in out
    assert "critical" in out and "frameworks" in out


def test_list_as_json() -> None:
    code, out, _ = invoke("rules", "list", "--format", "json")
    assert code == 0
    rules = json.loads(out)
    assert len(rules) == 21
    pg = next(r for r in rules if r["id"] == "SOAR-PG-001")
    assert pg["severity"] == "critical"
    assert pg["compliance"]["iso27001-2022"] == ["A.8.2", "A.5.15"]


def test_show_prints_remediation_compliance_and_condition() -> None:
    code, out, _ = invoke("rules", "show", "soar-env-001")
    assert code == 0
    assert "SOAR-ENV-001  [high]" in out
    assert "Settings > Advanced > API keys > {name}" in out
    assert "Organizations > Permissions" in out
    assert "NIST SP 800-53 Rev. 5 [nist-800-53-r5]: AC-6, AC-2, AC-3" in out
    assert "covers_all_environments_at_creation" in out
    assert "https://cloud.google.com/chronicle/docs/soar/" in out
    assert "Depends on: permission_groups (on instances migrated to Google Cloud" in out
    code, out, _ = invoke("rules", "show", "SOAR-AGE-001", "--format", "json")
    assert code == 0 and json.loads(out)["compliance"]["nist-800-53-r5"] == ["IA-5", "IA-5(1)"]
    assert json.loads(out)["depends_on"] == []
    code, out, _ = invoke("rules", "show", "SOAR-AGE-001")
    assert "Depends on" not in out


def test_show_unknown_rule_is_a_usage_error() -> None:
    code, _, err = invoke("rules", "show", "SOAR-NOPE-001")
    assert code == 2
    assert "unknown rule id 'SOAR-NOPE-001'" in err


def test_validate_the_builtin_pack() -> None:
    code, out, _ = invoke("rules", "validate")
    assert code == 0
    assert out.strip() == "21 rules OK"


def test_validate_reports_file_and_line_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULE.replace("is_system", "is_sytem"), encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(RULE.replace("ACME-KEY-001", "ACME-KEY-002"), encoding="utf-8")
    code, out, err = invoke("rules", "validate", str(bad), str(good))
    assert code == 2
    assert f"{bad}:6: when: unknown fact 'is_sytem' (did you mean 'is_system'?)" in out
    assert "1 problem(s) found" in err
    code, out, _ = invoke("rules", "validate", str(good))
    assert code == 0 and out.strip() == "22 rules OK (21 built-in, 1 from the given paths)"


def test_terminal_output_is_escaped(tmp_path: Path) -> None:
    rule = tmp_path / "evil.yaml"
    rule.write_text(RULE, encoding="utf-8")
    code, out, _ = invoke("rules", "list", "--path", str(rule))
    assert code == 0
    assert "\x1b" not in out and "\\x1b" in out
    code, out, _ = invoke("rules", "show", "ACME-KEY-001", "-p", str(rule))
    assert code == 0 and "\x1b" not in out and "Evil \\x1b[2J title" in out


def test_a_broken_extra_path_is_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke("rules", "list", "--path", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "missing.yaml: no such file or folder" in err
