"""The rules of the access that replaces API keys, on hand-built tenants: Group Mapping entries
(SOAR-MAP-001..004, SOAR-CHG-003/004) and the IAM policy (SOAR-IAM-001, SOAR-CHG-004), each
failing, passing and undecided; changes against a history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from engine_factory import (
    MAPPING_PREFIX,
    NOW,
    SA,
    binding,
    by_name,
    days_ago,
    history,
    inventory,
    mapping,
    only,
    run,
)

from auditor.config import RuleParams
from auditor.engine.findings import fingerprint
from auditor.engine.rules import builtin_rules, find_rule
from auditor.soar.models import IamCondition, IdpMapping, Inventory

ENVS = ("Default Environment", "Acme")
WIF = "principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/x"


def tenant(*maps: IdpMapping, envs: Any = ENVS, at: Any = NOW, **kw: Any) -> Inventory:
    return inventory([], envs, mappings=maps, surfaces=["chronicle"], at=at, **kw)


def iam_tenant(*bindings: Any, at: Any = NOW) -> Inventory:
    return inventory([], ENVS, bindings=bindings, surfaces=["chronicle", "iam"], at=at)


# -- SOAR-MAP-001 ----------------------------------------------------------------------------------
def test_map_001_fails_for_an_entry_listing_every_environment_at_its_first_sight() -> None:
    found = by_name(run(tenant(mapping("snap", envs=ENVS))), "SOAR-MAP-001")
    finding = found["snap"]
    assert finding.status == "fail" and finding.severity == "high"
    assert finding.resource.to_dict() == {
        "type": "idp_mapping", "id": MAPPING_PREFIX + "snap", "name": "snap"}
    assert finding.evidence["environments_at_first_sight"] == ["Acme", "Default Environment"]
    assert finding.evidence["missing_environments"] == []
    assert finding.evidence["first_seen"] == "2026-11-26T02:00:00Z"  # first listed now
    assert finding.remediation.startswith("Settings > Advanced > Group Mapping (on the unified "
                                          "SecOps platform: Settings > Access Management")
    assert finding.compliance["nist-800-53-r5"] == ["AC-6", "AC-2", "AC-3"]


def test_map_001_across_two_audits_with_a_new_environment() -> None:
    t1 = days_ago(7)
    first = tenant(mapping("snap", envs=ENVS), at=t1)
    assert set(by_name(run(first, now=t1), "SOAR-MAP-001")) == {"snap"}
    # Audit 2: Globex is new (first seen now); "snap" keeps its list; two entries are new.
    second = tenant(
        mapping("snap", envs=ENVS),
        mapping("old-list", envs=ENVS),  # new, and Globex existed at its first sight
        mapping("all-three", envs=(*ENVS, "Globex")),
        envs=(*ENVS, "Globex"),
    )
    hist = history(first, env_first_seen={e: t1 for e in ENVS},
                   mapping_first_seen={MAPPING_PREFIX + "snap": t1})
    found = by_name(run(second, hist), "SOAR-MAP-001")
    assert set(found) == {"snap", "all-three"}
    snap = found["snap"]
    assert snap.evidence["missing_environments"] == ["Globex"]
    assert snap.evidence["first_seen"] == "2026-11-19T02:00:00Z"
    assert snap.evidence["environment_creation"]["Globex"] == {
        "created_at": "2026-11-26T02:00:00Z", "source": "first_seen"}
    assert "Globex" in snap.message and "Globex" in snap.remediation
    assert "first seen (2026-11-19T02:00:00Z)" in snap.message
    assert found["all-three"].evidence["environments_at_first_sight"] == [
        "Acme", "Default Environment", "Globex"]


@pytest.mark.parametrize("envs", [("*",), ("Acme",), ("Acme", "Default Environment", "Gone")])
def test_map_001_passes(envs: tuple[str, ...]) -> None:
    found = by_name(run(tenant(mapping("m", envs=envs))), "SOAR-MAP-001")
    # the last one lists every environment plus a stale one: still a snapshot
    assert set(found) == ({"m"} if "Gone" in envs else set())


def test_map_001_respects_snapshot_min_environments() -> None:
    inv = tenant(mapping("m", envs=("Acme",)), envs=("Acme",))
    assert by_name(run(inv), "SOAR-MAP-001") == {}
    params = RuleParams(snapshot_min_environments=1)
    assert set(by_name(run(inv, params=params), "SOAR-MAP-001")) == {"m"}


def test_map_001_is_unknown_when_the_first_listing_was_pruned() -> None:
    first_audit, t_old = days_ago(500), days_ago(100)
    prev = tenant(mapping("snap", envs=ENVS), envs=(*ENVS, "Globex"), at=days_ago(1))
    current = tenant(mapping("snap", envs=ENVS), envs=(*ENVS, "Globex"))
    # Globex was first seen 200 days ago; the entry was first listed at or before 100 days ago
    # (the audit that first listed it is gone): did Globex exist at its first sight?
    hist = history(prev, first_audit=first_audit,
                   env_first_seen={"Default Environment": first_audit, "Acme": first_audit,
                                   "Globex": days_ago(200)},
                   mapping_first_seen_by={MAPPING_PREFIX + "snap": t_old})
    finding = by_name(run(current, hist), "SOAR-MAP-001")["snap"]
    assert finding.status == "unknown"
    assert set(finding.evidence["unknown"]) == {
        "covers_all_environments_at_first_sight", "environments_at_first_sight_count"}
    assert finding.evidence["first_seen"] == {
        "not_before": "2025-07-14T02:00:00Z", "not_after": "2026-08-18T02:00:00Z"}
    # An environment first seen after the bound is simply not at first sight: decided.
    hist2 = history(prev, first_audit=first_audit,
                    env_first_seen={"Default Environment": first_audit, "Acme": first_audit,
                                    "Globex": days_ago(50)},
                    mapping_first_seen_by={MAPPING_PREFIX + "snap": t_old})
    decided = by_name(run(current, hist2), "SOAR-MAP-001")["snap"]
    assert decided.status == "fail" and decided.evidence["missing_environments"] == ["Globex"]


def test_an_entry_of_the_previous_audit_without_a_first_seen_time_is_bounded() -> None:
    """A history without the maps (e.g. built by hand): the previous audit is the bound."""
    prev = tenant(mapping("snap", envs=ENVS), at=days_ago(1))
    hist = history(prev, env_first_seen={e: days_ago(1) for e in ENVS})
    found = by_name(run(tenant(mapping("snap", envs=ENVS)), hist), "SOAR-MAP-001")
    assert found["snap"].status == "fail"
    # between the tenant's first complete audit and the previous one: here the same audit
    assert found["snap"].evidence["first_seen"] == "2026-11-25T02:00:00Z"
    older = history(prev, first_audit=days_ago(30), env_first_seen={e: days_ago(30) for e in ENVS})
    found = by_name(run(tenant(mapping("snap", envs=ENVS)), older), "SOAR-MAP-001")
    assert found["snap"].status == "fail"  # no environment with a known time: decided
    assert found["snap"].evidence["first_seen"] == {
        "not_before": "2026-10-27T02:00:00Z", "not_after": "2026-11-25T02:00:00Z"}
    assert "first seen (between 2026-10-27T02:00:00Z and 2026-11-25T02:00:00Z)" in \
        found["snap"].message


# -- SOAR-MAP-002 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("member", [SA, WIF, "ci@acme-secops.iam.gserviceaccount.com"])
def test_map_002_fails_for_a_machine_member_with_a_privileged_role(member: str) -> None:
    inv = tenant(mapping("bots", members=("group:soc@acme.com", member), roles=(1, 2)))
    finding = by_name(run(inv), "SOAR-MAP-002")["bots"]
    assert finding.status == "fail" and finding.severity == "high"
    assert finding.evidence["machine_members"] == [member]
    assert finding.evidence["privileged_roles"] == ["Administrator"]
    assert member in finding.message


@pytest.mark.parametrize("kw", [
    dict(members=(SA,), roles=(2,)),  # a machine, not privileged
    dict(members=("group:admins@acme.com",), roles=(1,)),  # privileged, but people
    dict(members=(SA,), roles=(99,)),  # a role id the tenant does not have
])
def test_map_002_passes(kw: dict[str, Any]) -> None:
    assert by_name(run(tenant(mapping("m", **kw))), "SOAR-MAP-002") == {}


def test_map_002_reads_privileged_soc_roles() -> None:
    inv = tenant(mapping("m", members=(SA,), roles=(3,)))
    params = RuleParams(privileged_soc_roles=["tier2"])
    assert set(by_name(run(inv, params=params), "SOAR-MAP-002")) == {"m"}


# -- SOAR-MAP-003 ----------------------------------------------------------------------------------
def test_map_003_fails_for_a_dangling_entry() -> None:
    inv = tenant(mapping("no-role", roles=()), mapping("gone-role", roles=(2, 99)),
                 mapping("gone-group", groups=(2, 77)), mapping("ok", groups=(2,)))
    found = by_name(run(inv), "SOAR-MAP-003")
    assert set(found) == {"no-role", "gone-role", "gone-group"}
    assert found["no-role"].evidence["mapping_problem"] == ["has no SOC role"]
    assert found["gone-role"].evidence["missing_role_ids"] == [99]
    assert found["gone-group"].evidence["missing_group_ids"] == [77]
    assert found["gone-group"].message == ("Group Mapping entry gone-group is dangling: "
                                           "permission group ids the tenant does not have: 77.")
    assert all(f.severity == "medium" for f in found.values())


# -- SOAR-MAP-004 ----------------------------------------------------------------------------------
def test_map_004_fails_for_a_wide_default_entry() -> None:
    inv = tenant(mapping("default-star", envs=("*",), default=True),
                 mapping("default-admin", roles=(1,), default=True),
                 mapping("default-narrow", roles=(2,), envs=("Acme",), default=True),
                 mapping("star-not-default", envs=("*",)))
    found = by_name(run(inv), "SOAR-MAP-004")
    assert set(found) == {"default-star", "default-admin"}
    assert found["default-admin"].evidence["privileged_roles"] == ["Administrator"]
    assert found["default-star"].evidence["environments"] == ["*"]


# -- SOAR-IAM-001 ----------------------------------------------------------------------------------
COND = IamCondition(expression='request.time < timestamp("2027-01-01T00:00:00Z")',
                    title="until-2027", description="break-glass")


def test_iam_001_fails_passes_and_is_unknown() -> None:
    inv = iam_tenant(
        binding("roles/owner", SA, "user:alice@acme.com"),
        binding("roles/chronicle.viewer", "serviceAccount:ro@acme-secops.iam.gserviceaccount.com"),
        binding("roles/chronicle.soarAdmin", WIF),
        binding("roles/chronicle.admin", "serviceAccount:tmp@acme-secops.iam.gserviceaccount.com",
                condition=COND),
    )
    found = only(run(inv), "SOAR-IAM-001")
    assert set(found) == {SA, WIF, "serviceAccount:tmp@acme-secops.iam.gserviceaccount.com"}
    owner = found[SA]
    assert owner.status == "fail" and owner.severity == "critical"
    assert owner.resource.to_dict() == {"type": "iam_member", "id": SA, "name": SA}
    assert owner.evidence["admin_roles"] == ["roles/owner"]
    assert owner.message == f"{SA} holds the administrative IAM role roles/owner on project " \
                            "acme-secops."
    assert owner.remediation.startswith("Google Cloud console > IAM & Admin > IAM (project "
                                        "acme-secops)")
    assert found[WIF].status == "fail" and found[WIF].evidence["member_type"] == "principal"
    tmp = found["serviceAccount:tmp@acme-secops.iam.gserviceaccount.com"]
    assert tmp.status == "unknown"
    assert tmp.evidence["admin_role_conditions"] == {"roles/chronicle.admin": [
        {"title": "until-2027", "expression": COND.expression, "description": "break-glass"}]}
    assert set(tmp.evidence["unknown"]) == {"has_admin_role"}
    assert "only under a condition" in tmp.message


def test_iam_001_an_unconditional_grant_wins_over_a_conditional_one() -> None:
    inv = iam_tenant(binding("roles/editor", SA, condition=COND), binding("ROLES/EDITOR", SA))
    finding = only(run(inv), "SOAR-IAM-001")[SA]
    assert finding.status == "fail" and finding.evidence["admin_roles"] == ["ROLES/EDITOR"]


def test_iam_001_reads_admin_iam_roles() -> None:
    inv = iam_tenant(binding("roles/chronicle.editor", SA))
    assert only(run(inv), "SOAR-IAM-001") == {}
    params = RuleParams(admin_iam_roles=["roles/chronicle.editor"])
    assert set(only(run(inv, params=params), "SOAR-IAM-001")) == {SA}


# -- SOAR-CHG-003 ----------------------------------------------------------------------------------
def test_chg_003_new_mapping_and_new_machine_members_one_finding_per_entry() -> None:
    before = tenant(mapping("bots", members=("group:soc@acme.com", SA)),
                    mapping("people"), at=days_ago(1))
    bot2 = "serviceAccount:etl@acme-secops.iam.gserviceaccount.com"
    now = tenant(
        mapping("bots", members=("group:soc@acme.com", SA, bot2, WIF)),
        mapping("people", members=("group:soc@acme.com", "user:bob@acme.com")),  # a person
        mapping("fresh", members=(SA,)),
    )
    found = by_name(run(now, history(before)), "SOAR-CHG-003")
    assert set(found) == {"bots", "fresh"}
    bots = found["bots"]
    assert bots.severity == "info" and bots.evidence["is_new_mapping"] is False
    assert bots.evidence["new_machine_members"] == [bot2, WIF]
    assert bots.message.startswith(f"Group Mapping entry bots since the last complete audit: "
                                   f"machine member {bot2}, machine member {WIF} (")
    fresh = found["fresh"]
    assert fresh.evidence["is_new_mapping"] is True
    assert fresh.evidence["new_machine_members"] == [SA]
    assert "new mapping, machine member" in fresh.message


def test_chg_003_needs_an_earlier_audit_that_read_group_mapping() -> None:
    inv = tenant(mapping("fresh", members=(SA,)))
    assert by_name(run(inv), "SOAR-CHG-003") == {}
    legacy_only = inventory([], ENVS, at=days_ago(1))  # read over the legacy API only
    assert by_name(run(inv, history(legacy_only)), "SOAR-CHG-003") == {}


# -- SOAR-CHG-004 ----------------------------------------------------------------------------------
def test_chg_004_mapping_widened() -> None:
    before = tenant(mapping("m", members=("group:soc@acme.com",), roles=(2,), envs=("Acme",)),
                    mapping("star", envs=("Acme",)), mapping("same"), at=days_ago(1))
    now = tenant(
        mapping("m", members=("group:soc@acme.com", "group:ext@acme.com"), roles=(2, 1),
                envs=("Acme", "Default Environment"), groups=(2,)),
        mapping("star", envs=("*",)),
        mapping("same"),
        mapping("brand-new", envs=("*",)),
    )
    found = by_name(run(now, history(before)), "SOAR-CHG-004")
    assert set(found) == {"m", "star"}
    m = found["m"]
    assert m.severity == "high" and m.status == "fail"
    assert m.evidence["scope_changes"] == [
        "member group:ext@acme.com", "SOC role Administrator", "permission group Tier1",
        "environment Default Environment"]
    assert m.evidence["scope_before"] == {"members": ["group:soc@acme.com"], "roles": ["Tier1"],
                                          "groups": [], "environments": ["Acme"]}
    assert found["star"].evidence["became_wildcard"] is True
    assert found["star"].evidence["scope_changes"] == ['environments became "*"']


def test_chg_004_iam_member_gained_an_admin_role() -> None:
    ro = "serviceAccount:ro@acme-secops.iam.gserviceaccount.com"
    before = iam_tenant(binding("roles/chronicle.viewer", SA, ro),
                        binding("roles/editor", "user:carol@acme.com", condition=COND),
                        at=days_ago(1))
    now = iam_tenant(
        binding("roles/chronicle.viewer", SA, ro),
        binding("roles/owner", SA),  # gained
        binding("roles/editor", "user:carol@acme.com"),  # its condition went away
        binding("roles/chronicle.admin", "user:dave@acme.com", condition=COND),  # new member
        binding("roles/chronicle.editor", ro),  # not an admin role
    )
    found = only(run(now, history(before)), "SOAR-CHG-004")
    assert set(found) == {SA, "user:carol@acme.com", "user:dave@acme.com"}
    sa = found[SA]
    assert sa.resource.type == "iam_member" and sa.severity == "high"
    assert sa.evidence["gained_admin_roles"] == ["roles/owner"]
    assert sa.evidence["roles_before"] == ["roles/chronicle.viewer"]
    assert sa.message == (f"{SA} gained the administrative IAM role roles/owner on project "
                          "acme-secops since the last complete audit.")
    assert sa.remediation.startswith("Google Cloud console > IAM & Admin > IAM")
    assert found["user:carol@acme.com"].evidence["role_changes"] == [
        "roles/editor (its condition was removed)"]
    assert found["user:dave@acme.com"].evidence["role_changes"] == [
        "roles/chronicle.admin (with a condition: until-2027)"]
    assert found["user:dave@acme.com"].evidence["roles_before"] == []


def test_chg_004_one_rule_two_resources_distinct_fingerprints() -> None:
    rule = find_rule(builtin_rules(), "SOAR-CHG-004")
    assert rule is not None and rule.resources == ("idp_mapping", "iam_member")
    assert rule.surfaces == ("chronicle", "iam")
    meta = rule.metadata()
    assert meta["resource"] == "idp_mapping" and meta["also"][0]["resource"] == "iam_member"
    before = inventory([], ENVS, mappings=[mapping("m", envs=("Acme",))],
                       bindings=[binding("roles/chronicle.viewer", SA)], at=days_ago(1))
    now = inventory([], ENVS, mappings=[mapping("m", envs=("*",))],
                    bindings=[binding("roles/owner", SA)])
    found = [f for f in run(now, history(before)) if f.rule_id == "SOAR-CHG-004"]
    assert sorted(f.resource.type for f in found) == ["iam_member", "idp_mapping"]
    assert len({f.id for f in found}) == 2
    assert found[0].id == fingerprint("acme", "SOAR-CHG-004", found[0].resource.type,
                                      found[0].resource.id)


def test_chg_004_needs_an_earlier_audit_of_the_same_surface() -> None:
    now = iam_tenant(binding("roles/owner", SA))
    without_iam = tenant(mapping("m"), at=days_ago(1))
    assert only(run(now, history(without_iam)), "SOAR-CHG-004") == {}
    assert only(run(now), "SOAR-CHG-004") == {}


def test_new_findings_name_the_same_fingerprint_in_every_run() -> None:
    inv = tenant(mapping("snap", envs=ENVS))
    a = by_name(run(inv), "SOAR-MAP-001")["snap"]
    b = by_name(run(inv, now=NOW + timedelta(days=1)), "SOAR-MAP-001")["snap"]
    assert a.id == b.id == fingerprint("acme", "SOAR-MAP-001", "idp_mapping",
                                       MAPPING_PREFIX + "snap")
