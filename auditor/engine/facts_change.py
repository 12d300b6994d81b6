"""Key facts about changes since the tenant's last complete audit (none without one)."""

from __future__ import annotations

from typing import Any

from auditor.engine.context import TenantContext, fold
from auditor.engine.facts import (
    PERMISSION_GROUPS,
    KeyFacts,
    fact,
    group_label,
    hidden,
    role_label,
)
from auditor.soar.models import ApiKey


# -- changes since the last complete audit -------------------------------------------------------
@hidden("_previous")
def _previous(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> ApiKey | None:
    return ctx.previous_keys.get(key.id)


@fact("has_previous_audit", "bool", "An earlier complete audit of the tenant exists.")
def _has_previous(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> bool:
    return ctx.has_previous_audit


@fact("is_new_key", "bool", "An earlier complete audit exists and did not list this key id "
      "(false when there is no earlier complete audit).")
def _is_new(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> bool:
    return ctx.has_previous_audit and key.id not in ctx.previous_keys


@fact("gained_groups", "list[str]", "Groups the key has now but did not have at the last "
      "complete audit.", depends_on=(PERMISSION_GROUPS,))
def _gained_groups(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    prev: ApiKey | None = f["_previous"]
    if prev is None:
        return []
    return [group_label(ctx, g) for g in key.group_ids if g not in prev.group_ids]


@fact("gained_roles", "list[str]", "SOC roles the key has now but did not have at the last "
      "complete audit.")
def _gained_roles(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    prev: ApiKey | None = f["_previous"]
    if prev is None:
        return []
    return [role_label(ctx, r) for r in key.role_ids if r not in prev.role_ids]


@fact("gained_environments", "list[str]", "Environments the key names now but did not at the "
      'last complete audit (none when it was "*" then).')
def _gained_envs(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    prev: ApiKey | None = f["_previous"]
    if prev is None or prev.is_wildcard:
        return []
    before = {fold(n) for n in prev.environments}
    return [n for n in key.environments if n != "*" and fold(n) not in before]


@fact("became_wildcard", "bool", 'The key\'s environments hold "*" now and did not at the last '
      "complete audit.")
def _became_wildcard(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> bool:
    prev: ApiKey | None = f["_previous"]
    return prev is not None and key.is_wildcard and not prev.is_wildcard


@fact("scope_widened", "bool", "Since the last complete audit the key gained a group, a role or "
      'an environment, or became "*" (false for keys not in that audit).')
def _widened(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> bool:
    prev: ApiKey | None = f["_previous"]
    if prev is None or (prev.group_ids == key.group_ids and prev.role_ids == key.role_ids
                        and prev.environments == key.environments):
        return False
    return bool(f["gained_groups"] or f["gained_roles"] or f["gained_environments"]
                or f["became_wildcard"])


@fact("scope_changes", "list[str]", "How the key's access widened since the last complete "
      'audit, in words (e.g. `group Admins`, `environments became "*"`).')
def _scope_changes(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    if not f["scope_widened"]:
        return []
    changes = [f"group {g}" for g in f["gained_groups"]]
    changes += [f"SOC role {r}" for r in f["gained_roles"]]
    changes += [f"environment {e}" for e in f["gained_environments"]]
    if f["became_wildcard"]:
        changes.append('environments became "*"')
    return changes


def _scope_of(ctx: TenantContext, key: ApiKey) -> dict[str, Any]:
    return {
        "groups": [group_label(ctx, g) for g in key.group_ids],
        "roles": [role_label(ctx, r) for r in key.role_ids],
        "environments": list(key.environments),
    }


@fact("scope_before", "dict", "The key's groups, roles and environments at the last complete "
      "audit.", nullable=True, unknown_reason="the key was not in the last complete audit")
def _scope_before(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> dict[str, Any] | None:
    prev: ApiKey | None = f["_previous"]
    if prev is None:
        return None
    return {
        "groups": [ctx.previous_groups.get(g, group_label(ctx, g)) for g in prev.group_ids],
        "roles": [ctx.previous_roles.get(r, role_label(ctx, r)) for r in prev.role_ids],
        "environments": list(prev.environments),
    }


@fact("scope_after", "dict", "The key's groups, roles and environments now.")
def _scope_after(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> dict[str, Any]:
    return _scope_of(ctx, key)
