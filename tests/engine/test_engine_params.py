"""Rule files declare their parameters (``params:``): the declarations are checked, several files
may declare one parameter only alike, the built-in rules declare what they use, and `rules
show` / `rules list` show them."""

from __future__ import annotations

import json
import re
import typing
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from engine_factory import days_ago, inventory, key, only, run

from auditor import yamlsrc
from auditor.cli import main
from auditor.config import RuleParams
from auditor.config.params import ENGINE_PARAMS, builtin_declarations
from auditor.engine.rules import builtin_dir, compile_paths, load_rules

RULE = """\
id: ACME-KEY-001
title: t
severity: low
description: d
remediation: r
params:
  acme_limit:
    type: int
    default: 30
    description: The limit.
when: {fact: age_days, gt: {param: acme_limit}}
message: "{name} is over {acme_limit}"
"""


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conflicting_declarations_fail_validate_naming_both_places(tmp_path: Path) -> None:
    one = write(tmp_path, "one.yaml", RULE)
    two = write(tmp_path, "two.yaml", RULE.replace("ACME-KEY-001", "ACME-KEY-002")
                .replace("default: 30", "default: 60"))
    code, out, err = invoke("rules", "validate", str(one), str(two))
    assert code == 2
    assert (f"{two}:7: params.acme_limit: declared differently in {one}:7 (int, default 60 "
            "here, int, default 30 there); the declarations of a parameter must agree") in out
    assert "1 problem(s) found" in err
    # Alike (the description may differ): fine.
    write(tmp_path, "two.yaml", RULE.replace("ACME-KEY-001", "ACME-KEY-002")
          .replace("The limit.", "The same limit."))
    code, out, _ = invoke("rules", "validate", str(one), str(two))
    assert code == 0, out


def test_a_declaration_unlike_the_builtin_one_names_the_builtin_file(tmp_path: Path) -> None:
    text = RULE.replace("acme_limit", "max_key_age_days").replace("default: 30", "default: 30\n"
                                                                   "    min: 1")
    mine = write(tmp_path, "mine.yaml", text)
    errors = compile_paths([mine])[1]
    age = Path(str(builtin_dir())) / "SOAR-AGE-001.yaml"
    line = next(i for i, t in enumerate(age.read_text().splitlines(), 1)
                if t.strip() == "max_key_age_days:")
    assert errors == [f"{mine}:7: params.max_key_age_days: declared differently in {age}:{line} "
                      "(int, default 30, min 1 here, int, default 90, min 1 there); the "
                      "declarations of a parameter must agree"]


@pytest.mark.parametrize(
    ("old", "new", "line", "needle"),
    [
        ("type: int", "type: float", 8, "params.acme_limit.type: Input should be 'int'"),
        ("default: 30", "default: thirty", 7, "params.acme_limit: default: must be a whole "
                                              "number, not 'thirty'"),
        ("default: 30", "default: 30\n    min: 40", 7, "default: must be at least 40, not 30"),
        ("default: 30", "default: 30\n    min: 9\n    max: 3", 7, "min (9) is greater than max"),
        ("type: int", "type: bool", 7, "default: must be true or false, not 30"),
        ("default: 30", "default: null", 7, "default: int parameters need a default"),
        ("    description: The limit.\n", "", 7, "params.acme_limit.description: is required"),
        ("  acme_limit:", "  Acme-Limit:", 7, "params.Acme-Limit: a parameter name is lower-case"),
        ("when: {fact: age_days, gt: {param: acme_limit}}",
         "when: {fact: age_days, gt: {param: acme_limitt}}", 11,
         "when: age_days gt: unknown parameter 'acme_limitt' (did you mean 'acme_limit'?)"),
        ("when: {fact: age_days, gt: {param: acme_limit}}",
         "when: {fact: name, matches: {param: acme_limit}}", 11,
         "parameter acme_limit is an int, not a regex"),
    ],
)
def test_bad_declarations_name_file_and_line(tmp_path: Path, old: str, new: str, line: int,
                                             needle: str) -> None:
    assert old in RULE
    bad = write(tmp_path, "bad.yaml", RULE.replace(old, new))
    errors = compile_paths([bad])[1]
    assert any(e.startswith(f"{bad}:{line}: ") and needle in e for e in errors), errors


def test_a_regex_parameter_is_usable_with_matches(tmp_path: Path) -> None:
    text = RULE.replace("type: int\n    default: 30", "type: regex\n    default: 'svc-.*'").replace(
        "{fact: age_days, gt: {param: acme_limit}}",
        "{not: {fact: name, matches: {param: acme_limit}}}")
    rules = load_rules([write(tmp_path, "rx.yaml", text)])
    inv = inventory([key(1, "svc-a", created=days_ago(1)), key(2, "bob", created=days_ago(1))])
    # (the configuration's loader gives every declared default; here they are given)
    default = RuleParams(acme_limit=rules[-1].params["acme_limit"].default)
    assert set(only(run(inv, rules=rules, params=default), "ACME-KEY-001")) == {2}
    other = RuleParams(acme_limit="b.*")
    assert set(only(run(inv, rules=rules, params=other), "ACME-KEY-001")) == {1}


def _mentions(path: Path, names: set[str]) -> set[str]:
    data = yamlsrc.load(path.read_text(encoding="utf-8"))
    rest = json.dumps({k: v for k, v in yamlsrc.plain(data).items() if k != "params"})
    return {n for n in names if re.search(rf"\b{n}\b", rest)}


def test_every_builtin_rule_declares_the_parameters_it_names() -> None:
    declared = builtin_declarations()
    names = set(declared) - set(ENGINE_PARAMS)
    used_anywhere: set[str] = set()
    for path in sorted(Path(str(builtin_dir())).glob("*.yaml")):
        data = yamlsrc.load(path.read_text(encoding="utf-8"))
        own = set(data.get("params") or {})
        used = _mentions(path, names)
        assert used <= own, (path.name, used - own)
        used_anywhere |= own
    assert used_anywhere == names


def test_the_typed_view_agrees_with_the_declarations() -> None:
    declared = builtin_declarations()
    python_type = {"int": int, "bool": bool, "list[str]": list[str], "date": date,
                   "regex": str | None}
    hints = typing.get_type_hints(RuleParams)
    for name in RuleParams.model_fields:
        assert name in declared, name
        assert hints[name] == python_type[declared[name].spec.type], name
    assert set(RuleParams.model_fields) == set(declared)
    assert RuleParams().model_dump() == {k: d.spec.default for k, d in declared.items()}
    with pytest.raises(ValueError, match="max_key_age_days: must be at least 1, not 0"):
        RuleParams(max_key_age_days=0)


def test_show_and_list_give_the_parameters(tmp_path: Path) -> None:
    code, out, _ = invoke("rules", "show", "SOAR-MIG-001")
    assert code == 0
    assert "Parameters (rules.params; the default unless the configuration sets it):" in out
    assert "  legacy_api_warning_days: int, default 30, min 0, max 3650: From this many" in out
    assert '  legacy_api_shutdown: date, default "2027-03-31": ' in out
    code, out, _ = invoke("rules", "show", "SOAR-NAME-001", "--format", "json")
    assert json.loads(out)["params"]["key_name_pattern"]["default"] is None
    assert json.loads(out)["params"]["key_name_pattern"]["type"] == "regex"
    code, out, _ = invoke("rules", "show", "SOAR-AUDIT-001")
    assert "Parameters" not in out
    mine = write(tmp_path, "mine.yaml", RULE)
    code, out, _ = invoke("rules", "list", "--format", "json", "-p", str(mine))
    listed: dict[str, Any] = {r["id"]: r for r in json.loads(out)}
    assert listed["ACME-KEY-001"]["params"] == {
        "acme_limit": {"type": "int", "default": 30, "description": "The limit."}}
    assert set(listed["SOAR-AGE-001"]["params"]) == {"max_key_age_days"}
    code, out, _ = invoke("rules", "list", "-p", str(mine))
    assert code == 0 and "params" in out and "acme_limit" in out
