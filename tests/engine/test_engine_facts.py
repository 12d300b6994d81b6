"""Each key fact, computed directly on hand-built inventories (the hard logic of the rules)."""

from __future__ import annotations

from typing import Any

import pytest
from engine_factory import NOW, days_ago, env, facts_of, history, inventory, key

from auditor.config import RuleParams
from auditor.engine.context import env_times
from auditor.engine.facts import KEY_FACTS, TENANT_FACTS, tenant_facts
from auditor.soar.models import PermissionGroup


# -- scope and All Environments ------------------------------------------------------------------
def test_scope_is_wildcard_when_the_list_holds_a_star() -> None:
    inv = inventory([key(1, envs=("*",)), key(2, envs=("Acme",)), key(3, envs=())])
    assert facts_of(inv, 1)["scope"] == "wildcard"
    assert facts_of(inv, 2)["scope"] == "explicit"
    assert facts_of(inv, 3)["scope"] == "explicit"
    assert facts_of(inv, 1)["environment_count"] == 0
    assert facts_of(inv, 2)["environment_count"] == 1


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ((2,), False),  # every group lacks it
        ((2, 5), False),
        ((4,), True),
        ((2, 4), True),  # any group that has it
        ((3, 4), True),  # true wins over unknown
        ((3,), None),  # unknown state, none true
        ((2, 3), None),
        ((), False),  # no group grants nothing
        ((99,), False),  # a group the tenant does not have grants nothing
        ((99, 3), None),
    ],
)
def test_has_all_environments(groups: tuple[int, ...], expected: bool | None) -> None:
    inv = inventory([key(1, groups=groups)])
    assert facts_of(inv, 1)["has_all_environments"] is expected


def test_group_and_role_facts() -> None:
    inv = inventory([key(1, groups=(1, 3, 42), roles=(1, 7)), key(2, groups=(), roles=())])
    f = facts_of(inv, 1)
    assert list(f["group_ids"]) == [1, 3, 42]
    assert f["groups"] == ["Admins", "Mystery"]
    assert f["missing_group_ids"] == [42]
    assert f["admin_groups"] == ["Admins"]
    assert f["all_environments_groups"] == ["Admins"]
    assert f["unknown_state_groups"] == ["Mystery"]
    assert f["roles"] == ["Administrator"]
    assert f["missing_role_ids"] == [7]
    assert f["privileged_roles"] == ["Administrator"]
    assert f.evidence("groups") == [
        {"id": 1, "name": "Admins", "all_environments": True},
        {"id": 3, "name": "Mystery", "all_environments": None},
    ]
    assert f.evidence("roles") == [{"id": 1, "name": "Administrator"}]
    empty = facts_of(inv, 2)
    assert list(empty["group_ids"]) == [] and list(empty["role_ids"]) == []
    assert empty["missing_group_ids"] == [] and empty["admin_groups"] == []
    assert f["group_problem"] == "names permission group ids that the tenant does not have: 42"
    assert f["role_problem"] == "names SOC role ids that the tenant does not have: 7"
    assert empty["group_problem"] == "has no permission group"
    assert empty["role_problem"] == "has no SOC role"
    fine = facts_of(inventory([key(3)]), 3)
    assert fine["group_problem"] == "" and fine["role_problem"] == ""


def test_admin_and_privileged_names_come_from_params_case_insensitively() -> None:
    groups = (PermissionGroup(1, "  SOC ADMINS ", True), PermissionGroup(2, "Tier1", False))
    inv = inventory([key(1, groups=(1, 2), roles=(2, 3))], groups=groups)
    params = RuleParams(admin_permission_groups=["soc admins"], privileged_soc_roles=["TIER2"])
    f = facts_of(inv, 1, params=params)
    assert f["admin_groups"] == ["  SOC ADMINS "]
    assert f["privileged_roles"] == ["Tier2"]
    assert facts_of(inv, 1)["admin_groups"] == []  # default [Admins] does not match


# -- environment creation times -------------------------------------------------------------------
def test_environment_creation_time_sources() -> None:
    inv = inventory([], envs=[
        env("FromApi", days_ago(50)),
        env("SeenLater"),
        env("SeenAtFirstAudit"),
        env("NeverSeen"),
        env("caseDiffers"),
    ])
    hist = history(
        inventory([], at=days_ago(1)),
        first_audit=days_ago(30),
        env_first_seen={
            "FromApi": days_ago(5),  # the API's time wins
            "SeenLater": days_ago(8),
            "SeenAtFirstAudit": days_ago(30),
            "CASEDIFFERS": days_ago(3),
        },
    )
    times = env_times(inv, hist, NOW)
    assert (times["fromapi"].created_at, times["fromapi"].source) == (days_ago(50), "api")
    assert (times["seenlater"].created_at, times["seenlater"].source) == (days_ago(8),
                                                                          "first_seen")
    # listed by the first complete audit: not known to be created after it
    assert (times["seenatfirstaudit"].created_at, times["seenatfirstaudit"].source) == (
        None, "unknown")
    # an earlier complete audit exists and did not list it: first seen now
    assert (times["neverseen"].created_at, times["neverseen"].source) == (NOW, "first_seen")
    assert times["casediffers"].created_at == days_ago(3)


def test_without_history_only_api_times_are_known() -> None:
    inv = inventory([], envs=[env("A", days_ago(3)), env("B")])
    for hist in (None, history(None)):
        times = env_times(inv, hist, NOW)
        assert times["a"].created_at == days_ago(3)
        assert times["b"].created_at is None and times["b"].source == "unknown"


def test_environments_at_creation() -> None:
    envs = [env("Old", days_ago(100)), env("Unknown"), env("New", days_ago(5))]
    inv = inventory(
        [
            key(1, envs=("Old", "Unknown"), created=days_ago(20)),
            key(2, envs=("Old",), created=None),
            key(3, envs=("Old", "Unknown", "New"), created=days_ago(5)),  # same instant counts
        ],
        envs=envs,
    )
    f = facts_of(inv, 1)
    assert f["environments_at_creation"] == ["Old", "Unknown"]
    assert f["environments_at_creation_count"] == 2
    assert f["covers_all_environments_at_creation"] is True
    assert f["uncovered_environments"] == ["New"]
    assert f["missing_environments"] == ["New"]
    assert f.evidence("environment_creation") == {
        "New": {"created_at": "2026-11-21T02:00:00Z", "source": "api"},
        "Old": {"created_at": "2026-08-18T02:00:00Z", "source": "api"},
        "Unknown": {"created_at": None, "source": "unknown"},
    }
    unknown = facts_of(inv, 2)  # key time unknown while some environment times are known
    assert unknown["environments_at_creation"] is None
    assert unknown["environments_at_creation_count"] is None
    assert unknown["covers_all_environments_at_creation"] is None
    assert unknown["missing_environments"] is None
    assert unknown["uncovered_environments"] == ["New", "Unknown"]
    assert facts_of(inv, 3)["environments_at_creation"] == ["New", "Old", "Unknown"]


def test_environments_at_creation_when_no_time_is_known_is_every_environment() -> None:
    inv = inventory([key(1, envs=("acme", "DEFAULT ENVIRONMENT"), created=None)])
    f = facts_of(inv, 1)
    assert f["environments_at_creation"] == ["Acme", "Default Environment"]
    assert f["covers_all_environments_at_creation"] is True  # names compare case-insensitively
    assert f["missing_environments"] == []


def test_covers_is_false_when_an_environment_of_the_creation_day_is_not_listed() -> None:
    inv = inventory([key(1, envs=("Acme",))])
    f = facts_of(inv, 1)
    assert f["covers_all_environments_at_creation"] is False
    assert f["uncovered_environments"] == ["Default Environment"]
    assert f["missing_environments"] == []  # existed at creation: not "missing", just not chosen


def test_wildcard_keys_cover_no_named_environment() -> None:
    inv = inventory([key(1, envs=("*",))])
    f = facts_of(inv, 1)
    assert f["uncovered_environments"] == [] and f["missing_environments"] == []
    assert f["covers_all_environments_at_creation"] is False


def test_stale_environments_compare_case_insensitively_and_ignore_the_wildcard() -> None:
    inv = inventory([key(1, envs=("acme ", "Gone", "*", "Old"))], envs=["Acme", "Default"])
    f = facts_of(inv, 1)
    assert f["stale_environments"] == ["Gone", "Old"]
    assert f["tenant_environments"] == ["Acme", "Default"]
    assert facts_of(inventory([key(2, envs=("Acme",))]), 2)["stale_environments"] == []


# -- age, names ------------------------------------------------------------------------------------
def test_age_days_counts_whole_days_and_is_unknown_without_a_creation_time() -> None:
    inv = inventory([key(1, created=days_ago(90.9)), key(2, created=None),
                     key(3, created=days_ago(400))])
    assert facts_of(inv, 1)["age_days"] == 90
    assert facts_of(inv, 2)["age_days"] is None
    assert facts_of(inv, 2)["created_at"] is None
    assert facts_of(inv, 3)["age_days"] == 400


def test_name_pattern_facts() -> None:
    inv = inventory([key(1, "svc-ci-bot"), key(2, "ci-bot"), key(3, "svc-ci-bot-extra!")])
    assert facts_of(inv, 1)["name_pattern_set"] is False
    assert facts_of(inv, 2)["name_matches_pattern"] is True  # nothing to match
    params = RuleParams(key_name_pattern=r"svc-[a-z-]+")
    assert facts_of(inv, 1, params=params)["name_pattern_set"] is True
    assert facts_of(inv, 1, params=params)["name_matches_pattern"] is True
    assert facts_of(inv, 2, params=params)["name_matches_pattern"] is False
    assert facts_of(inv, 3, params=params)["name_matches_pattern"] is False  # full match only


def test_duplicate_names_are_case_insensitive_and_trimmed_and_count_system_keys() -> None:
    inv = inventory([key(1, "CI-Bot"), key(2, " ci-bot "), key(3, "other"),
                     key(4, "ci-bot", system=True)])
    assert facts_of(inv, 1)["duplicate_name"] is True
    assert facts_of(inv, 1)["same_name_key_ids"] == [2, 4]
    assert facts_of(inv, 2)["same_name_key_ids"] == [1, 4]
    assert facts_of(inv, 3)["duplicate_name"] is False
    assert facts_of(inv, 3)["same_name_key_ids"] == []


# -- changes since the last complete audit ---------------------------------------------------------
def test_change_facts_without_history_are_false() -> None:
    inv = inventory([key(1, envs=("*",))])
    for hist in (None, history(None)):
        f = facts_of(inv, 1, hist)
        assert f["has_previous_audit"] is False
        assert f["is_new_key"] is False
        assert f["scope_widened"] is False
        assert f["scope_before"] is None
        assert f["gained_groups"] == [] and f["became_wildcard"] is False


def test_new_key_is_a_key_id_the_last_complete_audit_did_not_list() -> None:
    before = inventory([key(1)], at=days_ago(1))
    inv = inventory([key(1), key(2)])
    assert facts_of(inv, 1, history(before))["is_new_key"] is False
    assert facts_of(inv, 2, history(before))["is_new_key"] is True
    assert facts_of(inv, 2, history(before))["has_previous_audit"] is True


@pytest.mark.parametrize(
    ("before", "after", "widened", "gained"),
    [
        (dict(groups=(2,)), dict(groups=(2, 1)), True, ("gained_groups", ["Admins"])),
        (dict(roles=(2,)), dict(roles=(1, 2)), True, ("gained_roles", ["Administrator"])),
        (dict(envs=("Acme",)), dict(envs=("Acme", "Default Environment")), True,
         ("gained_environments", ["Default Environment"])),
        (dict(envs=("Acme",)), dict(envs=("*",)), True, ("became_wildcard", True)),
        (dict(envs=("Acme",)), dict(envs=("ACME",)), False, ("gained_environments", [])),
        (dict(envs=("*",)), dict(envs=("Acme", "Default Environment")), False,
         ("gained_environments", [])),
        (dict(groups=(2, 1)), dict(groups=(2,)), False, ("gained_groups", [])),  # narrowed
        (dict(), dict(), False, ("gained_groups", [])),
    ],
)
def test_scope_widened(before: dict[str, Any], after: dict[str, Any], widened: bool,
                       gained: tuple[str, object]) -> None:
    prev = inventory([key(1, **before)], at=days_ago(1))
    inv = inventory([key(1, **after)])
    f = facts_of(inv, 1, history(prev))
    assert f["scope_widened"] is widened
    assert f[gained[0]] == gained[1]


def test_scope_before_and_after_name_groups_of_the_time() -> None:
    prev = inventory([key(1, groups=(9,), envs=("Acme",))], at=days_ago(1),
                     groups=[PermissionGroup(9, "Retired", False)])
    inv = inventory([key(1, groups=(2,), envs=("*",))])
    f = facts_of(inv, 1, history(prev))
    assert f["scope_before"] == {"groups": ["Retired"], "roles": ["Tier1"],
                                 "environments": ["Acme"]}
    assert f["scope_after"] == {"groups": ["Tier1"], "roles": ["Tier1"], "environments": ["*"]}
    assert f["gained_groups"] == ["Tier1"]
    assert f["scope_changes"] == ["group Tier1", 'environments became "*"']


def test_scope_changes_in_words() -> None:
    prev = inventory([key(1, envs=("Acme",))], at=days_ago(1))
    inv = inventory([key(1, roles=(2, 1), envs=("Acme", "Default Environment"))])
    f = facts_of(inv, 1, history(prev))
    assert f["scope_changes"] == ["SOC role Administrator", "environment Default Environment"]
    assert facts_of(prev, 1, history(prev))["scope_changes"] == []


# -- the registry -------------------------------------------------------------------------------
def test_every_fact_is_documented_typed_and_computable() -> None:
    inv = inventory([key(1), key(2, created=None, groups=(3,))],
                    envs=[env("A", days_ago(3)), env("B")])
    prev = inventory([key(1, envs=("A",))], at=days_ago(1))
    for key_id in (1, 2):
        f = facts_of(inv, key_id, history(prev))
        for name, spec in KEY_FACTS.items():
            assert spec.doc and spec.type, name
            value = f[name]
            if value is None:
                assert spec.nullable and spec.unknown_reason, name
            f.evidence(name)  # JSON-ready
    assert set(tenant_facts("t", inv, None)) == set(TENANT_FACTS)
    assert set(tenant_facts("t", None, "boom")) == set(TENANT_FACTS)


def test_facts_are_computed_lazily_and_once() -> None:
    inv = inventory([key(1)])
    f = facts_of(inv, 1)
    assert "age_days" not in f
    assert f["age_days"] == 10
    assert "age_days" in f and "scope" not in f
    with pytest.raises(KeyError):
        f["no_such_fact"]
