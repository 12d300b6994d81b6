"""The rule file keys added for the access that replaces API keys: resources idp_mapping and
iam_member, surface, severity_when, also, renamed evidence entries; each validated with file:line
errors like the rest."""

from __future__ import annotations

from pathlib import Path

from engine_factory import SA, binding, inventory, key, mapping, only, run

from auditor.engine.rules import compile_paths, load_rules, validate_paths

BASE = """\
id: ACME-MAP-001
title: t
severity: low
resource: idp_mapping
description: d
remediation: "Settings > Advanced > Group Mapping > {display_name}"
when: {fact: has_machine_member, equals: true}
message: "{display_name} maps {machine_members}"
"""


def write(folder: Path, text: str, name: str = "rule.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(folder: Path, text: str) -> list[str]:
    return validate_paths([write(folder, text)])


def test_a_custom_mapping_rule(tmp_path: Path) -> None:
    rules = load_rules([write(tmp_path, BASE + "evidence: [machine_members, {who: members}]\n")])
    inv = inventory([], mappings=[mapping("bots", members=("group:x@acme.com", SA))])
    finding = only(run(inv, rules=rules), "ACME-MAP-001")[inv.mappings[0].name]
    assert finding.message == f"bots maps {SA}"
    assert finding.evidence == {"machine_members": [SA], "who": ["group:x@acme.com", SA]}
    assert rules[-1].metadata()["evidence"] == ["machine_members", "who=members"]


def test_facts_of_another_resource_are_errors_with_lines(tmp_path: Path) -> None:
    text = BASE.replace("has_machine_member", "age_days").replace("{machine_members}",
                                                                   "{name_pattern_set}")
    errors = errors_of(tmp_path, text)
    assert any(e.endswith(":7: when: unknown fact 'age_days'") for e in errors), errors
    assert any(":8: message: unknown placeholder {name_pattern_set}" in e for e in errors), errors


def test_surface_and_resource_values_are_checked(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, BASE + "surface: soap\n")
    assert len(errors) == 1 and ":9: surface: " in errors[0]
    errors = errors_of(tmp_path, BASE.replace("idp_mapping", "idp_mapings"))
    assert len(errors) == 1 and ":4: resource: " in errors[0]


def test_a_declared_surface_overrides_the_default(tmp_path: Path) -> None:
    rules = load_rules([write(tmp_path, BASE + "surface: iam\n")])
    rule = rules[-1]
    assert rule.surfaces == ("iam",)
    inv = inventory([], mappings=[mapping("bots", members=(SA,))], surfaces=["chronicle"])
    assert only(run(inv, rules=rules), "ACME-MAP-001") == {}  # no iam surface: not applicable


def test_severity_when(tmp_path: Path) -> None:
    text = BASE + """\
severity_when:
  - severity: critical
    when: {fact: privileged_roles, is: non_empty}
  - severity: medium
    when: {fact: is_default, equals: true}
"""
    rules = load_rules([write(tmp_path, text)])
    inv = inventory([], mappings=[mapping("admin", members=(SA,), roles=(1,), default=True),
                                  mapping("default", members=(SA,), default=True),
                                  mapping("plain", members=(SA,))])
    found = {f.resource.name: f.severity for f in run(inv, rules=rules)
             if f.rule_id == "ACME-MAP-001"}
    assert found == {"admin": "critical", "default": "medium", "plain": "low"}
    assert rules[-1].severity == "low"


def test_severity_when_errors(tmp_path: Path) -> None:
    text = BASE + """\
severity_when:
  - severity: urgent
    when: {fact: is_default, equals: true}
  - severity: high
    when: {fact: is_defualt, equals: true}
"""
    errors = errors_of(tmp_path, text)
    assert len(errors) == 1 and ":10: severity_when.0.severity: " in errors[0]
    errors = errors_of(tmp_path, text.replace("urgent", "high"))
    assert errors == [f"{tmp_path / 'rule.yaml'}:13: severity_when.1.when: unknown fact "
                      "'is_defualt' (did you mean 'is_default'?)"]


def test_an_unknown_severity_condition_keeps_the_base_severity(tmp_path: Path) -> None:
    text = BASE.replace("resource: idp_mapping", "resource: api_key").replace(
        "has_machine_member", "is_system").replace("equals: true", "equals: false").replace(
        "{display_name}", "{name}").replace("{machine_members}", "{id}") + """\
severity_when:
  - severity: high
    when: {fact: age_days, gt: 1}
"""
    rules = load_rules([write(tmp_path, text)])
    inv = inventory([key(1), key(2, created=None)])
    found = only(run(inv, rules=rules), "ACME-MAP-001")
    assert (found[1].severity, found[2].severity) == ("high", "low")


ALSO = BASE + """\
also:
  - resource: iam_member
    when: {fact: is_machine, equals: true}
    message: "{member} is a machine"
    remediation: "IAM > {member}"
    evidence: [{kind: member_type}]
"""


def test_also_evaluates_the_same_rule_on_another_resource(tmp_path: Path) -> None:
    rules = load_rules([write(tmp_path, ALSO)])
    rule = rules[-1]
    assert rule.resources == ("idp_mapping", "iam_member")
    inv = inventory([], mappings=[mapping("bots", members=(SA,))],
                    bindings=[binding("roles/viewer", SA, "user:a@acme.com")])
    found = [f for f in run(inv, rules=rules) if f.rule_id == "ACME-MAP-001"]
    assert sorted((f.resource.type, f.message) for f in found) == [
        ("iam_member", f"{SA} is a machine"), ("idp_mapping", f"bots maps {SA}")]
    iam = next(f for f in found if f.resource.type == "iam_member")
    assert iam.evidence == {"kind": "serviceAccount"} and iam.remediation == f"IAM > {SA}"


def test_also_errors(tmp_path: Path) -> None:
    dup = ALSO.replace("resource: iam_member", "resource: idp_mapping")
    errors = errors_of(tmp_path, dup)
    assert len(errors) == 1 and ":10: also.0.resource: idp_mapping is already evaluated" in \
        errors[0], errors
    # The rule's own message is the default, so its placeholders must be facts here too.
    no_message = ALSO.replace('    message: "{member} is a machine"\n', "")
    errors = errors_of(tmp_path, no_message)
    assert len(errors) == 1 and "also.0.message: unknown placeholder {display_name}" in \
        errors[0], errors
    bad_fact = ALSO.replace("is_machine", "is_machin")
    errors = errors_of(tmp_path, bad_fact)
    assert errors == [f"{tmp_path / 'rule.yaml'}:11: also.0.when: unknown fact 'is_machin' "
                      "(did you mean 'is_machine'?)"]
    missing = ALSO.replace("  - resource: iam_member\n", "  - surface: iam\n")
    errors = errors_of(tmp_path, missing)
    assert len(errors) == 1 and "also.0.resource: is required" in errors[0], errors


def test_evidence_entries_are_checked(tmp_path: Path) -> None:
    for entry, problem in [
        ("[{unknown: members}]", "'unknown' is written by the auditor itself"),
        ("[{a: members, b: roles}]", "an entry is a fact name, or {KEY: FACT} with one key"),
        ("[{Bad-Key: members}]", "an evidence key is lower-case letters"),
        ("[members, {members: roles}]", "a fact is listed twice"),
    ]:
        errors = errors_of(tmp_path, BASE + f"evidence: {entry}\n")
        assert errors and all(":9: evidence" in e for e in errors), (entry, errors)
        assert any(problem in e for e in errors), (entry, errors)
    errors = errors_of(tmp_path, BASE + "evidence: [{x: nope}]\n")
    assert len(errors) == 1
    assert errors[0].startswith(f"{tmp_path / 'rule.yaml'}:9: evidence: unknown fact 'nope'")


def test_the_builtin_pack_compiles_with_no_problem() -> None:
    rules, errors = compile_paths(())
    assert errors == [] and len(rules) == 21
    assert sum(len(r.checks) for r in rules) == 22  # SOAR-CHG-004 has two
