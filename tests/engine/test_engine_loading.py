"""Rule files: loading, `file:line` validation errors, the condition language, custom rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_factory import inventory, key, only, run

from auditor.config import ConfigError, RuleParams
from auditor.engine.conditions import compile_condition
from auditor.engine.facts import KEY_FACTS
from auditor.engine.rules import RuleError, builtin_dir, load_rules, validate_paths
from auditor.engine.yamlsrc import load as load_yaml

GOOD = """\
id: ACME-KEY-001
title: Key reaches the Acme environment
severity: medium
resource: api_key
description: Keys that reach Acme must be reviewed.
remediation: "Settings > Advanced > API keys > {name}: remove Acme."
compliance:
  nist-800-53-r5: [AC-6]
  internal-policy: [KEY-7]
when:
  all:
    - {fact: environments, contains: Acme}
    - {fact: groups, contains_any: {param: admin_permission_groups}}
message: "{name} reaches Acme ({environment_count} environments; limit {max_key_age_days})"
evidence: [environments, groups, max_key_age_days]
"""


def write(tmp_path: Path, text: str, name: str = "rule.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_for(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    return [e for e in validate_paths([path]) if e.startswith(str(path))]


def test_the_builtin_pack_is_valid() -> None:
    assert validate_paths() == []
    assert len(load_rules()) == 21


def test_a_custom_rule_needs_no_python(tmp_path: Path) -> None:
    rules = load_rules([write(tmp_path, GOOD)])
    assert len(rules) == 22
    inv = inventory([key(1, "ops", groups=(1,), envs=("Acme",)), key(2, envs=("Acme",))])
    found = only(run(inv, rules=rules), "ACME-KEY-001")
    assert set(found) == {1}
    assert found[1].message == "ops reaches Acme (1 environments; limit 90)"
    assert found[1].evidence["max_key_age_days"] == 90
    assert found[1].compliance == {"nist-800-53-r5": ["AC-6"], "internal-policy": ["KEY-7"]}
    assert not found[1].to_dict()["resource"]["type"] == "tenant"


def test_a_folder_of_rules_is_loaded_in_name_order(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "b.yaml")
    write(tmp_path, GOOD.replace("ACME-KEY-001", "ACME-KEY-000"), "a.yml")
    write(tmp_path, "not a rule", "README.md")
    ids = [r.id for r in load_rules([tmp_path])]
    assert ids[-2:] == ["ACME-KEY-000", "ACME-KEY-001"]


def test_naming_the_builtin_folder_again_is_not_a_duplicate() -> None:
    folder = Path(str(builtin_dir()))
    assert validate_paths([folder]) == []


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (GOOD.replace("{fact: environments, contains", "{fact: enviroments, contains"), 12,
         "unknown fact 'enviroments' (did you mean 'environments'?)"),
        (GOOD.replace("severity: medium", "severity: hgh"), 3, "severity"),
        (GOOD.replace("resource: api_key", "resource: api_key\ncolour: red"), 5,
         "unknown key 'colour'"),
        (GOOD.replace("{environment_count}", "{enviroment_count}"), 14,
         "unknown placeholder {enviroment_count}"),
        (GOOD.replace("{environment_count}", "{name.__class__}"), 14, "unknown placeholder"),
        (GOOD.replace("{environment_count}", "{age_days:>5}"), 14, "no format spec"),
        (GOOD.replace("evidence: [environments,", "evidence: [environmentz,"), 15,
         "evidence: unknown fact 'environmentz'"),
        (GOOD.replace("contains: Acme}", "contains: Acme, equals: x}"), 12, "exactly one operator"),
        (GOOD.replace("contains: Acme}", "containz: Acme}"), 12,
         "unknown operator 'containz' (did you mean 'contains'?)"),
        (GOOD.replace("{fact: environments, contains: Acme}", "{fact: environments, gt: 3}"), 12,
         "not usable on a list[str] fact"),
        (GOOD.replace("{fact: environments, contains: Acme}", "{fact: scope, equals: explict}"),
         12, "'explict' is not one of wildcard, explicit (did you mean 'explicit'?)"),
        (GOOD.replace("{fact: environments, contains: Acme}", "{fact: age_days, gt: ninety}"),
         12, "'ninety' is not an int value"),
        (GOOD.replace("{fact: environments, contains: Acme}", "{fact: name, matches: '[a-'}"),
         12, "not a valid regular expression"),
        (GOOD.replace("{param: admin_permission_groups}", "{param: admin_groups}"), 13,
         "unknown parameter 'admin_groups'"),
        (GOOD.replace("{fact: environments, contains: Acme}",
                      "{fact: age_days, equals: {param: key_name_pattern}}"),
         12, "parameter key_name_pattern is a str, not an int"),
        (GOOD.replace("{fact: environments, contains: Acme}", "{fact: age_days, equals: null}"),
         12, "use `is: unknown`"),
        (GOOD.replace("{fact: environments, contains: Acme}", "{fact: age_days, is: empty}"),
         12, "empty is for lists and text"),
        (GOOD.replace("  all:\n", "  every:\n"), 11, "expected exactly one of all / any / not"),
        (GOOD.replace("nist-800-53-r5: [AC-6]", "nist-800-53-r5: [AC6]"), 8,
         "'AC6' is not a control id of NIST SP 800-53 Rev. 5"),
        (GOOD.replace("nist-800-53-r5: [AC-6]", "cis-v8: [5.4]"), 8,
         'write control ids as quoted text (e.g. "5.4")'),
        (GOOD.replace("id: ACME-KEY-001", "id: acme key"), 1, "id: String should match"),
        (GOOD.replace("message:", "mesage:"), 14, "unknown key 'mesage'"),
        (GOOD.replace("title: Key reaches the Acme environment\n", ""), 1, "title: is required"),
        (GOOD.replace("severity: medium", "severity: medium\nseverity: low"), 4,
         "duplicate key 'severity' (first at line 3)"),
        (GOOD.replace("when:\n  all:", "when:\n  all: [\n"), 13, "not valid YAML"),
        ("- just\n- a list\n", 1, "a rule file holds one rule"),
    ],
)
def test_validation_errors_name_file_and_line(tmp_path: Path, text: str, line: int,
                                              needle: str) -> None:
    errors = errors_for(tmp_path, text)
    assert errors, "no error reported"
    path = tmp_path / "rule.yaml"
    assert any(e.startswith(f"{path}:{line}: ") and needle in e for e in errors), errors


def test_a_tenant_rule_cannot_use_key_facts(tmp_path: Path) -> None:
    text = GOOD.replace("resource: api_key", "resource: tenant")
    errors = errors_for(tmp_path, text)
    assert any("unknown fact 'environments'" in e for e in errors)


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    text = GOOD.replace("{fact: environments,", "{fact: nope,").replace(
        "{environment_count}", "{nope2}")
    errors = errors_for(tmp_path, text)
    assert len(errors) == 2


def test_duplicate_ids_across_files_name_both_places(tmp_path: Path) -> None:
    first = write(tmp_path, GOOD, "a.yaml")
    second = write(tmp_path, GOOD, "b.yaml")
    errors = validate_paths([first, second])
    assert errors == [f"{second}:1: duplicate rule id ACME-KEY-001 (also in {first}:1)"]
    clash = write(tmp_path, GOOD.replace("ACME-KEY-001", "SOAR-PG-001"), "c.yaml")
    (error,) = validate_paths([clash])
    assert error.startswith(f"{clash}:1: duplicate rule id SOAR-PG-001 (also in ")
    assert "SOAR-PG-001.yaml:1)" in error


def test_missing_paths_and_empty_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    errors = validate_paths([tmp_path / "nope.yaml", tmp_path / "empty"])
    assert errors == [f"{tmp_path / 'nope.yaml'}: no such file or folder",
                      f"{tmp_path / 'empty'}: no rule files (*.yaml) in this folder"]


def test_load_rules_raises_a_config_error_with_every_problem(tmp_path: Path) -> None:
    bad = write(tmp_path, GOOD.replace("severity: medium", "severity: loud"))
    with pytest.raises(RuleError) as caught:
        load_rules([bad, tmp_path / "missing"])
    assert isinstance(caught.value, ConfigError)  # the CLI maps it to exit 2
    assert len(caught.value.errors) == 2
    assert str(caught.value).startswith(f"{bad}:3: severity:")
    assert "and 1 more" in str(caught.value)


def test_disabled_rules() -> None:
    ids = {r.id for r in load_rules(disabled=["SOAR-NAME-001", "SOAR-CHG-001"])}
    assert len(ids) == 19 and "SOAR-NAME-001" not in ids
    with pytest.raises(RuleError, match="unknown rule id 'SOAR-NAME-01'"):
        load_rules(disabled=["SOAR-NAME-01"])
    with pytest.raises(RuleError, match="SOAR-AUDIT-001 cannot be disabled"):
        load_rules(disabled=["SOAR-AUDIT-001"])


# -- the condition language ------------------------------------------------------------------------
def compiled(text: str) -> Any:
    cond, errors = compile_condition(load_yaml(text), KEY_FACTS)
    assert not errors, [e.message for e in errors]
    assert cond is not None
    return cond.predicate


@pytest.mark.parametrize(
    ("condition", "facts", "expected"),
    [
        ("{fact: age_days, gt: 5}", {"age_days": None}, None),
        ("{fact: age_days, is: unknown}", {"age_days": None}, True),
        ("{fact: age_days, is: known}", {"age_days": None}, False),
        ("{all: [{fact: age_days, gt: 5}, {fact: is_system, equals: true}]}",
         {"age_days": None, "is_system": False}, False),  # false wins over unknown
        ("{all: [{fact: age_days, gt: 5}, {fact: is_system, equals: true}]}",
         {"age_days": None, "is_system": True}, None),
        ("{any: [{fact: age_days, gt: 5}, {fact: is_system, equals: true}]}",
         {"age_days": None, "is_system": True}, True),  # true wins over unknown
        ("{any: [{fact: age_days, gt: 5}, {fact: is_system, equals: true}]}",
         {"age_days": None, "is_system": False}, None),
        ("{not: {fact: age_days, gt: 5}}", {"age_days": None}, None),
        ("{not: {fact: age_days, gt: 5}}", {"age_days": 3}, True),
        ("[{fact: age_days, gte: 5}, {fact: age_days, lte: 5}]", {"age_days": 5}, True),
        ("{fact: age_days, lt: {param: max_key_age_days}}", {"age_days": 89}, True),
        ("{fact: name, matches: 'svc-.*'}", {"name": "svc-1"}, True),
        ("{fact: name, matches: 'svc'}", {"name": "svc-1"}, False),  # full match
        ("{fact: name, in: [a, b]}", {"name": "b"}, True),
        ("{fact: name, not_in: [a, b]}", {"name": "b"}, False),
        ("{fact: name, contains: vc}", {"name": "svc"}, True),
        ("{fact: name, not_equals: x}", {"name": "svc"}, True),
        ("{fact: groups, contains_any: [X, Tier1]}", {"groups": ["Tier1"]}, True),
        ("{fact: group_ids, contains: 3}", {"group_ids": (1, 3)}, True),
        ("{fact: groups, is: non_empty}", {"groups": []}, False),
        ("{fact: missing_environments, is: empty}", {"missing_environments": None}, None),
    ],
)
def test_three_valued_logic(condition: str, facts: dict[str, Any], expected: bool | None) -> None:
    params = RuleParams().model_dump()
    assert compiled(condition)(facts, params) is expected


def test_unknown_when_turns_a_pass_into_unknown(tmp_path: Path) -> None:
    text = GOOD.replace(
        "message:", "unknown_when: {fact: groups, contains: Mystery}\nmessage:"
    )
    rules = load_rules([write(tmp_path, text)])
    inv = inventory([key(1, groups=(3,), envs=("Acme",)), key(2, groups=(1,), envs=("Acme",)),
                     key(3, groups=(2,))])
    found = only(run(inv, rules=rules), "ACME-KEY-001")
    assert found[1].status == "unknown"
    assert found[1].evidence["unknown"] == {"unknown_when": "the rule's unknown_when condition "
                                                            "holds"}
    assert found[2].status == "fail"  # a failing key stays failing
    assert 3 not in found
