"""SOAR-MIG-001: every legacy API key stops working on legacy_api_shutdown. Severity from its
YAML (severity_when), days from the injected audit time, and the replacement evidence that the
migration plan is built from."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from engine_factory import GROUPS, NOW, binding, days_ago, env, inventory, key, only, run

from auditor.config import RuleParams
from auditor.engine.facts_migration import account_id
from auditor.engine.rules import builtin_rules, find_rule
from auditor.soar.models import PermissionGroup

SHUTDOWN = date(2027, 3, 31)


def at_days_before(days: int) -> datetime:
    """An audit at 02:00 UTC, ``days`` days before the shutdown date."""
    day = SHUTDOWN - timedelta(days=days)
    return datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(("days", "severity", "words"), [
    (119, "medium", "119 days left"),
    (30, "high", "30 days left"),  # within legacy_api_warning_days (30): high
    (29, "high", "29 days left"),
    (1, "high", "1 day left"),
    (0, "high", "today"),
    (-1, "high", "1 day ago"),
])
def test_mig_001_severity_and_days_left(days: int, severity: str, words: str) -> None:
    now = at_days_before(days)
    inv = inventory([key(1, "ci-bot", created=now - timedelta(days=3))], at=now)
    finding = only(run(inv, now=now), "SOAR-MIG-001")[1]
    assert finding.status == "fail"
    assert finding.severity == severity
    assert finding.evidence["shutdown"] == "2027-03-31"
    assert finding.evidence["days_left"] == days
    assert f"on 2027-03-31 ({words})" in finding.message


def test_mig_001_reads_the_shutdown_and_warning_params() -> None:
    now = at_days_before(100)
    inv = inventory([key(1)], at=now)
    params = RuleParams(legacy_api_shutdown=date(2027, 9, 30), legacy_api_warning_days=365)
    finding = only(run(inv, params=params, now=now), "SOAR-MIG-001")[1]
    assert finding.evidence["days_left"] == 100 + 183
    assert finding.evidence["shutdown"] == "2027-09-30"
    assert finding.severity == "high"  # 283 <= 365
    assert finding.evidence["legacy_api_warning_days"] == 365


def test_the_severity_choice_is_declared_in_the_rule_file() -> None:
    rule = find_rule(builtin_rules(), "SOAR-MIG-001")
    assert rule is not None and rule.severity == "medium"
    assert rule.metadata()["severity_when"] == [{"severity": "high", "when": {
        "fact": "days_to_legacy_shutdown", "lte": {"param": "legacy_api_warning_days"}}}]
    assert rule.surfaces == ("legacy",)


def test_mig_001_skips_system_keys() -> None:
    inv = inventory([key(1, system=True), key(2)])
    assert set(only(run(inv), "SOAR-MIG-001")) == {2}
    with_system = RuleParams(include_system_keys=True)
    assert set(only(run(inv, params=with_system), "SOAR-MIG-001")) == {1, 2}


# -- the replacement -------------------------------------------------------------------------------
def _snapshot_tenant(**kw: Any) -> Any:
    """ci-bot (Tier1, role Tier1) lists the two environments of its creation day."""
    envs = [env("Default Environment"), env("Acme"), env("Globex", days_ago(3))]
    return inventory([key(7, "CI Bot", envs=("Default Environment", "Acme"),
                          created=days_ago(30))], envs=envs, **kw)


def test_the_replacement_of_a_snapshot_key() -> None:
    inv = _snapshot_tenant(bindings=[
        binding("projects/acme-secops/roles/SOAR_Custom_Tier1", "group:soc@acme.com")])
    finding = only(run(inv), "SOAR-MIG-001")[7]
    assert finding.evidence["replacement"] == {
        "identity": "serviceAccount:ci-bot@acme-secops.iam.gserviceaccount.com",
        "mapping": {"display_name": "CI Bot", "soc_roles": ["Tier1"], "environments": ["*"],
                    "snapshot": True},
        "iam_roles": [{"role": "projects/acme-secops/roles/SOAR_Custom_Tier1",
                       "permission_group": "Tier1", "suggested": False}],
        "permission_groups": ["Tier1"],
        "notes": [],
    }
    assert "serviceAccount:ci-bot@acme-secops.iam.gserviceaccount.com" in finding.message
    assert "Settings > Advanced > Group Mapping" in finding.remediation
    assert "Settings > Advanced > API keys" in finding.remediation
    assert "IAM & Admin > IAM" in finding.remediation
    # the same key is SOAR-ENV-001's snapshot: one condition, two rules
    assert 7 in only(run(inv), "SOAR-ENV-001")


def test_the_replacement_without_iam_suggests_a_role() -> None:
    inv = inventory([key(3, "etl", groups=(2, 3), envs=("Acme",))])
    replacement = only(run(inv), "SOAR-MIG-001")[3].evidence["replacement"]
    assert replacement["identity"] == "serviceAccount:etl-soar@PROJECT_ID.iam.gserviceaccount.com"
    assert replacement["mapping"]["environments"] == ["Acme"]
    assert replacement["mapping"]["snapshot"] is False
    assert replacement["iam_roles"] == [
        {"role": "roles/chronicle.viewer", "permission_group": "Tier1", "suggested": True},
        {"role": "roles/chronicle.viewer", "permission_group": "Mystery", "suggested": True},
    ]
    assert "suggested" in replacement["iam_roles_note"]
    assert "Tier1, Mystery" in replacement["iam_roles_note"]


def test_custom_roles_match_the_group_name_loosely_and_a_wildcard_key_gets_star() -> None:
    groups = [*GROUPS, PermissionGroup(9, "SOC Tier-3", False)]
    inv = inventory(
        [key(4, "x", groups=(9,), envs=("*",), roles=(2, 42))],
        groups=groups,
        bindings=[binding("projects/p/roles/soar_custom_soc_tier_3", "user:a@acme.com"),
                  binding("organizations/1/roles/SOAR_Custom_SOC_Tier_3", "user:a@acme.com"),
                  binding("projects/p/roles/XSOAR_Custom_SOC_Tier_3", "user:a@acme.com")],
        iam_project="acme-prod",
    )
    replacement = only(run(inv), "SOAR-MIG-001")[4].evidence["replacement"]
    assert replacement["iam_roles"] == [
        {"role": "organizations/1/roles/SOAR_Custom_SOC_Tier_3", "permission_group": "SOC Tier-3",
         "suggested": False},
        {"role": "projects/p/roles/soar_custom_soc_tier_3", "permission_group": "SOC Tier-3",
         "suggested": False},
    ]
    assert "iam_roles_note" not in replacement
    assert replacement["mapping"]["environments"] == ["*"]
    assert replacement["mapping"]["snapshot"] is False
    assert replacement["identity"] == "serviceAccount:x-soar@acme-prod.iam.gserviceaccount.com"
    assert replacement["notes"] == ["SOC role ids the tenant does not have are not carried "
                                    "over: 42"]


def test_a_key_without_groups_gets_one_suggested_role_and_undecided_snapshots_say_so() -> None:
    inv = inventory([key(5, "no-group", groups=(), envs=("Default Environment", "Acme"),
                         created=None)], envs=[env("Default Environment"),
                                               env("Acme", days_ago(3))])
    replacement = only(run(inv), "SOAR-MIG-001")[5].evidence["replacement"]
    assert replacement["iam_roles"] == [
        {"role": "roles/chronicle.viewer", "permission_group": None, "suggested": True}]
    assert replacement["mapping"]["snapshot"] is False
    assert replacement["mapping"]["environments"] == ["Default Environment", "Acme"]
    assert replacement["notes"][0].startswith("whether the key is bound to a snapshot of all "
                                              "environments could not be decided")


@pytest.mark.parametrize(("name", "expected"), [
    ("ci-bot", "ci-bot"), ("CI Bot", "ci-bot"), ("x", "x-soar"), ("42", "soar-42"),
    ("", "soar-key"), ("Ünïcode Äpp!", "n-code-pp"),
    ("a" * 40, "a" * 30), ("splunk---forwarder__prod", "splunk-forwarder-prod"),
])
def test_account_ids_are_valid_service_account_ids(name: str, expected: str) -> None:
    got = account_id(name)
    assert got == expected
    assert 6 <= len(got) <= 30 and got[0].isalpha() and got[-1].isalnum()


def test_keys_whose_names_give_the_same_account_id_get_their_id_appended() -> None:
    inv = inventory([key(1, "CI Bot"), key(2, "ci-bot"), key(3, "ci_bot"), key(4, "other-app")])
    found = only(run(inv), "SOAR-MIG-001")
    ids = {k: f.evidence["replacement"]["identity"].split("@")[0] for k, f in found.items()}
    assert ids == {1: "serviceAccount:ci-bot-1", 2: "serviceAccount:ci-bot-2",
                   3: "serviceAccount:ci-bot-3", 4: "serviceAccount:other-app"}


def test_the_evidence_is_json() -> None:
    finding = only(run(_snapshot_tenant()), "SOAR-MIG-001")[7]
    assert json.loads(json.dumps(finding.to_dict()))["evidence"]["days_left"] == (
        SHUTDOWN - NOW.date()).days
