"""Every built-in rule on hand-built tenants: when it fails, passes and cannot decide."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from engine_factory import NOW, days_ago, env, history, inventory, key, only, run

from auditor.config import RuleParams
from auditor.engine.evaluate import tenant_not_audited
from auditor.engine.rules import builtin_dir, builtin_rules, find_rule
from auditor.soar.models import Inventory

ALL_IDS = {
    "SOAR-ENV-001", "SOAR-ENV-002", "SOAR-ENV-003", "SOAR-PG-001", "SOAR-PG-002",
    "SOAR-ROLE-001", "SOAR-ROLE-002", "SOAR-AGE-001", "SOAR-NAME-001", "SOAR-NAME-002",
    "SOAR-CHG-001", "SOAR-CHG-002", "SOAR-AUDIT-001",
    # the access that replaces API keys (Chronicle API, Group Mapping, IAM)
    "SOAR-MIG-001", "SOAR-MAP-001", "SOAR-MAP-002", "SOAR-MAP-003", "SOAR-MAP-004",
    "SOAR-IAM-001", "SOAR-CHG-003", "SOAR-CHG-004",
}
SEVERITY = {
    "SOAR-ENV-001": "high", "SOAR-ENV-002": "medium", "SOAR-ENV-003": "low",
    "SOAR-PG-001": "critical", "SOAR-PG-002": "medium", "SOAR-ROLE-001": "high",
    "SOAR-ROLE-002": "low", "SOAR-AGE-001": "medium", "SOAR-NAME-001": "low",
    "SOAR-NAME-002": "low", "SOAR-CHG-001": "info", "SOAR-CHG-002": "high",
    "SOAR-AUDIT-001": "high",
    "SOAR-MIG-001": "medium", "SOAR-MAP-001": "high", "SOAR-MAP-002": "high",
    "SOAR-MAP-003": "medium", "SOAR-MAP-004": "high", "SOAR-IAM-001": "critical",
    "SOAR-CHG-003": "info", "SOAR-CHG-004": "high",
}


def test_the_pack_has_every_rule_with_its_severity_and_metadata() -> None:
    rules = builtin_rules()
    assert {r.id: r.severity for r in rules} == SEVERITY
    for rule in rules:
        assert rule.builtin
        assert set(rule.compliance) == {"nist-800-53-r5", "cis-v8", "soc2", "iso27001-2022"}
        assert rule.references and all(r["url"].startswith("https://") for r in rule.references)
        assert rule.description and rule.risk and rule.message.source
        json.dumps(rule.metadata())
    pg = find_rule(rules, "soar-pg-001")
    assert pg is not None and "AC-6(5)" in pg.compliance["nist-800-53-r5"]


def test_rule_files_are_named_after_their_ids() -> None:
    folder = Path(str(builtin_dir()))
    assert {p.stem for p in folder.glob("*.yaml")} == ALL_IDS


def test_key_rules_name_the_soar_ui_path_in_their_remediation() -> None:
    for rule in builtin_rules():
        if rule.resource == "api_key":
            assert "Settings > Advanced > API keys" in rule.remediation.source, rule.id
    env1 = find_rule(builtin_rules(), "SOAR-ENV-001")
    assert env1 is not None and "Organizations > Permissions" in env1.remediation.source


# -- SOAR-ENV-001 ----------------------------------------------------------------------------------
def _snapshot_tenant(**key_kw: Any) -> Inventory:
    """Key 7 lists the two environments that existed at its creation; Globex came later."""
    envs = [env("Default Environment"), env("Acme"), env("Globex", days_ago(3))]
    kw: dict[str, Any] = {"envs": ("Default Environment", "Acme"), "created": days_ago(30)}
    kw.update(key_kw)
    return inventory([key(7, "ci-bot", **kw)], envs=envs)


def test_env_001_fails_for_a_snapshot_of_all_environments() -> None:
    finding = only(run(_snapshot_tenant()), "SOAR-ENV-001")[7]
    assert finding.status == "fail" and finding.severity == "high"
    assert finding.evidence["environments_at_creation"] == ["Acme", "Default Environment"]
    assert finding.evidence["missing_environments"] == ["Globex"]
    assert finding.evidence["groups"] == [{"id": 2, "name": "Tier1", "all_environments": False}]
    assert "Globex" in finding.message and "ci-bot" in finding.message
    assert finding.remediation.startswith("Settings > Advanced > API keys > ci-bot:")
    assert finding.resource.to_dict() == {"type": "api_key", "id": 7, "name": "ci-bot"}
    assert finding.compliance["nist-800-53-r5"] == ["AC-6", "AC-2", "AC-3"]


@pytest.mark.parametrize(
    "kw",
    [
        dict(groups=(2, 4)),  # a group with All Environments
        dict(envs=("Acme",)),  # not every environment of its creation day
        dict(envs=("*",)),  # wildcard: another rule
    ],
)
def test_env_001_passes(kw: dict[str, Any]) -> None:
    assert "SOAR-ENV-001" not in {f.rule_id for f in run(_snapshot_tenant(**kw))}


def test_env_001_respects_snapshot_min_environments() -> None:
    inv = inventory([key(1, envs=("Acme",))], envs=["Acme"])
    assert only(run(inv), "SOAR-ENV-001") == {}  # 1 < default 2
    found = only(run(inv, params=RuleParams(snapshot_min_environments=1)), "SOAR-ENV-001")
    assert found[1].status == "fail"


@pytest.mark.parametrize(
    "kw",
    [
        dict(groups=(3,)),  # All Environments state unknown
        dict(created=None),  # key time unknown while Globex's creation time is known
    ],
)
def test_env_001_is_unknown_when_data_is_missing(kw: dict[str, Any]) -> None:
    finding = only(run(_snapshot_tenant(**kw)), "SOAR-ENV-001")[7]
    assert finding.status == "unknown"
    assert finding.evidence["unknown"]
    assert "could not decide" in finding.message
    reasons = set(finding.evidence["unknown"].values())
    assert finding.message.count(";") == len(reasons) - 1  # each reason said once


def test_env_001_uses_the_history_for_environments_created_after_the_key() -> None:
    # No creation time from the API. The first complete audit (60 days ago) listed Default and
    # Acme; Globex was first seen 5 days ago, after the key (30 days old) was created.
    envs = ["Default Environment", "Acme", "Globex"]
    inv = inventory([key(7, envs=("Default Environment", "Acme"), created=days_ago(30))],
                    envs=envs)
    prev = inventory([key(7, envs=("Default Environment", "Acme"), created=days_ago(30))],
                     envs=envs, at=days_ago(1))
    hist = history(prev, first_audit=days_ago(60), env_first_seen={
        "Default Environment": days_ago(60), "Acme": days_ago(60), "Globex": days_ago(5)})
    finding = only(run(inv, hist), "SOAR-ENV-001")[7]
    assert finding.status == "fail"
    assert finding.evidence["missing_environments"] == ["Globex"]
    # Without the history every environment counts as existing at creation: not a snapshot.
    assert only(run(inv), "SOAR-ENV-001") == {}


# -- SOAR-ENV-002 / 003 ----------------------------------------------------------------------------
def test_env_002_wildcard_without_all_environments() -> None:
    inv = inventory([key(1, envs=("*",)), key(2, envs=("*",), groups=(4,)),
                     key(3, envs=("Acme",)), key(4, envs=("*",), groups=(3,))])
    found = only(run(inv), "SOAR-ENV-002")
    assert found[1].status == "fail" and found[4].status == "unknown"
    assert set(found) == {1, 4}
    assert found[4].evidence["unknown"] == {
        "has_all_environments": found[4].evidence["unknown"]["has_all_environments"]}


def test_env_003_stale_environment() -> None:
    inv = inventory([key(1, envs=("Acme", "Gone")), key(2)])
    found = only(run(inv), "SOAR-ENV-003")
    assert set(found) == {1}
    assert found[1].evidence["stale_environments"] == ["Gone"]
    assert "Gone" in found[1].message and found[1].severity == "low"


# -- groups and roles ------------------------------------------------------------------------------
def test_pg_001_admin_group_and_its_parameter() -> None:
    inv = inventory([key(1, groups=(1,)), key(2, groups=(2,))])
    found = only(run(inv), "SOAR-PG-001")
    assert set(found) == {1} and found[1].severity == "critical"
    assert found[1].evidence["admin_groups"] == ["Admins"]
    custom = only(run(inv, params=RuleParams(admin_permission_groups=["TIER1"])), "SOAR-PG-001")
    assert set(custom) == {2}


def test_pg_002_missing_group() -> None:
    inv = inventory([key(1, groups=()), key(2, groups=(2, 77)), key(3)])
    found = only(run(inv), "SOAR-PG-002")
    assert set(found) == {1, 2}
    assert found[2].evidence["missing_group_ids"] == [77]
    assert found[1].message == "key-1 has no permission group."


def test_role_rules() -> None:
    inv = inventory([key(1, roles=(1,)), key(2, roles=()), key(3, roles=(9,)), key(4)])
    assert set(only(run(inv), "SOAR-ROLE-001")) == {1}
    assert set(only(run(inv), "SOAR-ROLE-002")) == {2, 3}
    params = RuleParams(privileged_soc_roles=["administrator", "tier1"])
    assert set(only(run(inv, params=params), "SOAR-ROLE-001")) == {1, 4}


# -- age and names ---------------------------------------------------------------------------------
def test_age_001() -> None:
    inv = inventory([key(1, created=days_ago(91)), key(2, created=days_ago(90.5)),
                     key(3, created=None)])
    found = only(run(inv), "SOAR-AGE-001")
    assert found[1].status == "fail" and found[1].evidence["age_days"] == 91
    assert found[1].evidence["max_key_age_days"] == 90
    assert 2 not in found
    assert found[3].status == "unknown"
    assert found[3].evidence["unknown"] == {"age_days": "the API gave no creation time for "
                                                        "this key"}
    assert set(only(run(inv, params=RuleParams(max_key_age_days=200)), "SOAR-AGE-001")) == {3}


def test_name_rules() -> None:
    inv = inventory([key(1, "svc-a"), key(2, "Bad Name"), key(3, "SVC-A ")])
    assert only(run(inv), "SOAR-NAME-001") == {}  # no pattern, no rule
    found = only(run(inv, params=RuleParams(key_name_pattern="svc-[a-z]+")), "SOAR-NAME-001")
    assert set(found) == {2, 3}
    dup = only(run(inv), "SOAR-NAME-002")
    assert set(dup) == {1, 3}
    assert dup[1].evidence["same_name_key_ids"] == [3]


# -- changes ---------------------------------------------------------------------------------------
def test_chg_rules_do_not_fire_without_an_earlier_complete_audit() -> None:
    inv = inventory([key(1, envs=("*",))])
    ids = {f.rule_id for f in run(inv)} | {f.rule_id for f in run(inv, history(None))}
    assert not ids & {"SOAR-CHG-001", "SOAR-CHG-002"}


def test_chg_001_new_key_and_chg_002_widened_scope() -> None:
    prev = inventory([key(1), key(2)], at=days_ago(1))
    inv = inventory([key(1), key(2, groups=(2, 1)), key(3)])
    findings = run(inv, history(prev))
    new = only(findings, "SOAR-CHG-001")
    assert set(new) == {3} and new[3].severity == "info"
    widened = only(findings, "SOAR-CHG-002")
    assert set(widened) == {2}
    assert widened[2].evidence["gained_groups"] == ["Admins"]
    assert widened[2].evidence["scope_before"]["groups"] == ["Tier1"]
    assert widened[2].message == ("key-2 gained access since the last complete audit: "
                                  "group Admins.")


# -- tenant level ----------------------------------------------------------------------------------
def test_audit_001_for_a_tenant_not_collected() -> None:
    finding = tenant_not_audited("acme-prod", "HTTP 401 from GetApiKeys", builtin_rules())
    assert finding.to_dict()["resource"] == {"type": "tenant", "id": None, "name": "acme-prod"}
    assert finding.status == "fail" and finding.severity == "high"
    assert finding.rule_id == "SOAR-AUDIT-001"
    assert "HTTP 401 from GetApiKeys" in finding.message
    assert finding.evidence == {"error": "HTTP 401 from GetApiKeys"}
    # the rule cannot be left out: it comes from the built-in pack when not in the list
    assert tenant_not_audited("x", "down", []).rule_id == "SOAR-AUDIT-001"


def test_a_collected_tenant_never_gets_audit_001() -> None:
    assert only(run(inventory([key(1)])), "SOAR-AUDIT-001") == {}


# -- across rules ----------------------------------------------------------------------------------
def test_system_keys_are_skipped_unless_included() -> None:
    inv = inventory([key(1, groups=(1,), system=True)])
    assert run(inv) == []
    found = run(inv, params=RuleParams(include_system_keys=True))
    assert "SOAR-PG-001" in {f.rule_id for f in found}


def test_findings_are_fail_or_unknown_plain_text_and_json_ready() -> None:
    hostile = "<img src=x onerror=alert(1)> =cmd|' \x1b[31m"
    inv = inventory([key(1, hostile, groups=(1, 3), roles=(1,), envs=("*", "Gone"),
                         created=None)])
    findings = run(inv)
    assert findings
    for f in findings:
        assert f.status in ("fail", "unknown")
        json.dumps(f.to_dict())
        assert f.tenant == "acme" and f.lifecycle == "new" and f.exception is None
    pg = only(findings, "SOAR-PG-001")[1]
    assert pg.message.startswith(hostile)  # escaping is the outputs' job
    assert pg.id == only(run(inv), "SOAR-PG-001")[1].id  # stable fingerprint


def test_a_clean_key_has_no_findings_but_the_legacy_api_shutdown() -> None:
    inv = inventory([key(1, "svc-ok", groups=(4,), envs=("*",), created=days_ago(5))])
    found = run(inv, params=RuleParams(key_name_pattern="svc-[a-z]+"))
    # Every legacy API key stops working on legacy_api_shutdown, however clean it is.
    assert [(f.rule_id, f.resource.id) for f in found] == [("SOAR-MIG-001", 1)]
    assert NOW.tzinfo is not None
