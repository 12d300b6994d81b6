"""Hand-built inventories and histories for the engine tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.config import RuleParams
from auditor.engine.context import build_context
from auditor.engine.evaluate import evaluate_tenant
from auditor.engine.facts import KeyFacts
from auditor.engine.findings import Finding
from auditor.engine.history import TenantHistory
from auditor.engine.rules import Rule, builtin_rules
from auditor.soar.models import (
    ApiKey,
    Environment,
    IamBinding,
    IamCondition,
    IdpMapping,
    Inventory,
    PermissionGroup,
    SocRole,
    Surface,
)

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)

GROUPS = (
    PermissionGroup(1, "Admins", True),
    PermissionGroup(2, "Tier1", False),
    PermissionGroup(3, "Mystery", None),
    PermissionGroup(4, "Everywhere", True),
    PermissionGroup(5, "Tier2", False),
)
ROLES = (SocRole(1, "Administrator"), SocRole(2, "Tier1"), SocRole(3, "Tier2"))


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


TEN_DAYS_AGO = days_ago(10)


def env(name: str, created: datetime | None = None) -> Environment:
    return Environment(name=name, created_at=created)


def key(
    id: int,
    name: str | None = None,
    *,
    groups: Sequence[int] = (2,),
    roles: Sequence[int] = (2,),
    envs: Sequence[str] = ("Default Environment", "Acme"),
    created: datetime | None = TEN_DAYS_AGO,
    system: bool = False,
) -> ApiKey:
    return ApiKey(
        id=id,
        name=name if name is not None else f"key-{id}",
        is_system=system,
        group_ids=tuple(groups),
        role_ids=tuple(roles),
        environments=tuple(envs),
        created_at=created,
    )


SA = "serviceAccount:ci-bot@acme-secops.iam.gserviceaccount.com"
MAPPING_PREFIX = "projects/acme-secops/locations/us/instances/i-1/legacySoarIdpMappingGroups/"


def mapping(
    ident: str,
    display_name: str | None = None,
    *,
    members: Sequence[str] = ("group:soc@acme.com",),
    roles: Sequence[int] = (2,),
    envs: Sequence[str] = ("Acme",),
    groups: Sequence[int] = (),
    default: bool = False,
) -> IdpMapping:
    """A Group Mapping entry whose resource name ends in ``ident``."""
    return IdpMapping(
        name=MAPPING_PREFIX + ident,
        display_name=display_name if display_name is not None else ident,
        members=tuple(members),
        soc_role_ids=tuple(roles),
        environments=tuple(envs),
        permission_group_ids=tuple(groups),
        default_mapping=default,
    )


def binding(role: str, *members: str, condition: IamCondition | None = None) -> IamBinding:
    return IamBinding(role=role, members=tuple(members), condition=condition)


def inventory(
    keys: Iterable[ApiKey],
    envs: Iterable[Environment | str] = ("Default Environment", "Acme"),
    *,
    groups: Iterable[PermissionGroup] = GROUPS,
    roles: Iterable[SocRole] = ROLES,
    tenant: str = "acme",
    at: datetime = NOW,
    mappings: Iterable[IdpMapping] = (),
    bindings: Iterable[IamBinding] = (),
    surfaces: Sequence[Surface] | None = None,
    iam_project: str | None = None,
) -> Inventory:
    """A tenant; ``surfaces`` default: legacy, plus chronicle when mappings are given and iam
    when bindings are."""
    maps, binds = tuple(mappings), tuple(bindings)
    if surfaces is None:
        surfaces = ["legacy"] + (["chronicle"] if maps else []) + (["iam"] if binds else [])
    return Inventory(
        tenant=tenant,
        collected_at=at,
        environments=tuple(env(e) if isinstance(e, str) else e for e in envs),
        permission_groups=tuple(groups),
        soc_roles=tuple(roles),
        api_keys=tuple(keys),
        surfaces=tuple(surfaces),
        mappings=maps,
        iam_bindings=binds,
        iam_project=iam_project if iam_project is not None else (
            "acme-secops" if binds else None),
    )


def history(
    previous: Inventory | None,
    *,
    first_audit: datetime | None = None,
    env_first_seen: dict[str, datetime] | None = None,
    mapping_first_seen: dict[str, datetime] | None = None,
    mapping_first_seen_by: dict[str, datetime] | None = None,
) -> TenantHistory:
    at = previous.collected_at if previous is not None else None
    return TenantHistory(
        previous_inventory=previous,
        previous_audit_at=at,
        first_complete_audit_at=first_audit if first_audit is not None else at,
        env_first_seen=env_first_seen or {},
        mapping_first_seen=mapping_first_seen or {},
        mapping_first_seen_by=mapping_first_seen_by or {},
    )


def facts_of(
    inv: Inventory,
    key_id: int,
    hist: TenantHistory | None = None,
    params: RuleParams | None = None,
    now: datetime = NOW,
) -> KeyFacts:
    ctx = build_context(inv, hist, params or RuleParams(), now)
    target = next(k for k in inv.api_keys if k.id == key_id)
    return KeyFacts(ctx, target)


def run(
    inv: Inventory,
    hist: TenantHistory | None = None,
    params: RuleParams | None = None,
    rules: list[Rule] | None = None,
    now: datetime = NOW,
) -> list[Finding]:
    return evaluate_tenant(inv, hist, builtin_rules() if rules is None else rules,
                           params or RuleParams(), now)


def only(findings: list[Finding], rule_id: str) -> dict[Any, Finding]:
    """The findings of one rule, by resource id (key id, mapping resource name, IAM member;
    tenant findings under None)."""
    return {f.resource.id: f for f in findings if f.rule_id == rule_id}


def by_name(findings: list[Finding], rule_id: str) -> dict[str, Finding]:
    """The findings of one rule, by resource name (a mapping's display name, a member)."""
    return {f.resource.name: f for f in findings if f.rule_id == rule_id}
