"""Instances migrated to Google Cloud (``auth: google``): IAM replaces permission groups, so the
findings of rules whose verdict rests on groups say that they judge the legacy groups."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from engine_factory import days_ago, env, inventory, key, only, run

from auditor.engine.evaluate import MIGRATED_NOTE
from auditor.engine.facts import DEPENDENCIES, KEY_FACTS, PERMISSION_GROUPS, TENANT_FACTS
from auditor.engine.rules import builtin_dir, builtin_rules, load_rules, validate_paths
from auditor.soar.models import Inventory

NOTE = ("Instance migrated to Google Cloud: IAM permissions replace permission groups; this "
        "verdict reflects the legacy permission groups the API still reports, not IAM roles.")
GROUP_RULES = {"SOAR-ENV-001", "SOAR-ENV-002", "SOAR-PG-001", "SOAR-PG-002",
               "SOAR-MAP-003"}  # a Group Mapping entry naming a permission group id


def _tenant(auth: str) -> Inventory:
    envs = [env("Default Environment"), env("Acme"), env("Globex", days_ago(3))]
    keys = [
        key(7, "snapshot", envs=("Default Environment", "Acme"), created=days_ago(30)),  # ENV-001
        key(1, "wild", envs=("*",)),  # ENV-002 fail
        key(4, "wild-mystery", envs=("*",), groups=(3,)),  # ENV-002 unknown (group state)
        key(2, "admin", groups=(1,), roles=(1,), envs=("Acme",)),  # PG-001 and ROLE-001
        key(3, "no-group", groups=(), envs=("Acme",)),  # PG-002
        key(6, "dangling", groups=(99,), envs=("Acme",)),  # PG-002
        key(5, "old", envs=("Acme",), created=days_ago(200)),  # AGE-001
    ]
    inv = inventory(keys, envs=envs)
    return dataclasses.replace(inv, auth="google") if auth == "google" else inv


def test_exactly_the_permission_group_rules_depend_on_groups() -> None:
    assert NOTE == MIGRATED_NOTE
    assert set(DEPENDENCIES) == {PERMISSION_GROUPS}
    depending = {r.id for r in builtin_rules() if PERMISSION_GROUPS in r.depends_on}
    assert depending == GROUP_RULES
    # decided by the facts the conditions read, which the registry tags
    assert {n for n, s in KEY_FACTS.items() if s.depends_on} >= {
        "group_ids", "groups", "missing_group_ids", "admin_groups", "has_all_environments"}
    assert not KEY_FACTS["scope"].depends_on and not KEY_FACTS["roles"].depends_on
    assert TENANT_FACTS["permission_group_count"].depends_on == (PERMISSION_GROUPS,)


def test_group_findings_of_a_migrated_tenant_carry_auth_and_the_note() -> None:
    findings = run(_tenant("google"))
    statuses = {(f.rule_id, f.resource.id): f.status for f in findings}
    expected = {
        ("SOAR-ENV-001", 7): "fail", ("SOAR-ENV-002", 1): "fail", ("SOAR-ENV-002", 4): "unknown",
        ("SOAR-PG-001", 2): "fail", ("SOAR-PG-002", 3): "fail", ("SOAR-PG-002", 6): "fail",
        ("SOAR-ROLE-001", 2): "fail", ("SOAR-AGE-001", 5): "fail",
    }
    assert expected.items() <= statuses.items()
    for finding in findings:
        if finding.rule_id in GROUP_RULES:
            assert finding.evidence["auth"] == "google", finding.rule_id
            assert finding.evidence["note"] == NOTE
        else:  # roles, age, names: IAM changes nothing about them
            assert "auth" not in finding.evidence and "note" not in finding.evidence
    # an unknown verdict keeps its reasons next to the note
    unknown = only(findings, "SOAR-ENV-002")[4]
    assert set(unknown.evidence) >= {"unknown", "auth", "note"}


def test_an_appkey_tenant_has_no_note_and_the_verdicts_are_the_same() -> None:
    google, legacy = run(_tenant("google")), run(_tenant("appkey"))
    assert all("auth" not in f.evidence and "note" not in f.evidence for f in legacy)
    assert [(f.id, f.status, f.message) for f in google] == [
        (f.id, f.status, f.message) for f in legacy]


CUSTOM = """\
id: ACME-KEY-{n}
title: Custom rule {n}
severity: low
description: A custom rule.
remediation: "Settings > Advanced > API keys > {{name}}: fix it."
when:
{when}
message: "{{name}} fails (groups: {{groups}})."
evidence: [groups]
"""


def _custom(tmp_path: Path, n: int, when: str, extra: str = "") -> Path:
    path = tmp_path / f"ACME-KEY-{n}.yaml"
    path.write_text(CUSTOM.format(n=n, when=when) + extra, encoding="utf-8")
    return path


def test_custom_rules_derive_or_declare_the_dependency(tmp_path: Path) -> None:
    _custom(tmp_path, 1, "  - {fact: groups, contains: Admins}")  # reads a group fact
    _custom(tmp_path, 2, "  - {fact: age_days, gt: 100}")  # groups only in its message
    _custom(tmp_path, 3, "  - {fact: age_days, gt: 100}", "depends_on: [permission_groups]\n")
    rules = {r.id: r for r in load_rules([tmp_path])}
    assert rules["ACME-KEY-1"].depends_on == (PERMISSION_GROUPS,)
    assert rules["ACME-KEY-2"].depends_on == ()
    assert rules["ACME-KEY-3"].depends_on == (PERMISSION_GROUPS,)
    assert rules["ACME-KEY-3"].metadata()["depends_on"] == [PERMISSION_GROUPS]
    findings = run(_tenant("google"), rules=list(rules.values()))
    assert only(findings, "ACME-KEY-1")[2].evidence["note"] == NOTE
    assert "note" not in only(findings, "ACME-KEY-2")[5].evidence
    assert only(findings, "ACME-KEY-3")[5].evidence["auth"] == "google"


def test_an_unknown_dependency_is_a_validation_error(tmp_path: Path) -> None:
    path = _custom(tmp_path, 4, "  - {fact: age_days, gt: 100}", "depends_on: [iam_roles]\n")
    errors = [e for e in validate_paths([path]) if e.startswith(str(path))]
    assert len(errors) == 1 and errors[0].startswith(f"{path}:10: depends_on.0: ")
    assert "'permission_groups'" in errors[0]
    twice = _custom(tmp_path, 5, "  - {fact: age_days, gt: 100}",
                    "depends_on: [permission_groups, permission_groups]\n")
    errors = [e for e in validate_paths([twice]) if e.startswith(str(twice))]
    assert errors and "a source is listed twice" in errors[0]


def test_the_readme_documents_depends_on() -> None:
    text = (Path(str(builtin_dir())) / "README.md").read_text(encoding="utf-8")
    assert "| `depends_on` |" in text and NOTE in text
