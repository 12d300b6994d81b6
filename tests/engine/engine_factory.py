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
from auditor.soar.models import ApiKey, Environment, Inventory, PermissionGroup, SocRole

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


def inventory(
    keys: Iterable[ApiKey],
    envs: Iterable[Environment | str] = ("Default Environment", "Acme"),
    *,
    groups: Iterable[PermissionGroup] = GROUPS,
    roles: Iterable[SocRole] = ROLES,
    tenant: str = "acme",
    at: datetime = NOW,
) -> Inventory:
    return Inventory(
        tenant=tenant,
        collected_at=at,
        environments=tuple(env(e) if isinstance(e, str) else e for e in envs),
        permission_groups=tuple(groups),
        soc_roles=tuple(roles),
        api_keys=tuple(keys),
    )


def history(
    previous: Inventory | None,
    *,
    first_audit: datetime | None = None,
    env_first_seen: dict[str, datetime] | None = None,
) -> TenantHistory:
    at = previous.collected_at if previous is not None else None
    return TenantHistory(
        previous_inventory=previous,
        previous_audit_at=at,
        first_complete_audit_at=first_audit if first_audit is not None else at,
        env_first_seen=env_first_seen or {},
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
    """The findings of one rule, by key id (tenant findings under None)."""
    return {f.resource.id: f for f in findings if f.rule_id == rule_id}
