"""Facts of a Group Mapping entry (resource ``idp_mapping``): who it maps, to which SOC roles,
permission groups and environments; its environments at first sight; changes since the last
complete audit that read the Chronicle surface."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from auditor.clock import iso
from auditor.engine.access import FirstSight
from auditor.engine.context import TenantContext, fold
from auditor.engine.facts import (
    MAPPINGS,
    PERMISSION_GROUPS,
    ItemFacts,
    group_label,
    role_label,
)
from auditor.soar.models import IdpMapping

fact = MAPPINGS.fact
hidden = MAPPINGS.hidden
_PG = (PERMISSION_GROUPS,)
_SIGHT_UNKNOWN = ("the audit that first listed the mapping is no longer stored (retention) and "
                  "an environment was first seen within the time the mapping may have been "
                  "first listed")


class MappingFacts(ItemFacts):
    """The facts of one Group Mapping entry."""

    __slots__ = ()
    registry = MAPPINGS

    def __init__(self, ctx: TenantContext, mapping: IdpMapping) -> None:
        super().__init__(ctx, mapping)


# -- identity ------------------------------------------------------------------------------------
@fact("tenant", "str", "The tenant's name, as configured.")
def _tenant(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> str:
    return ctx.tenant


@fact("name", "str", "The mapping's resource name (`projects/.../legacySoarIdpMappingGroups/...`).")
def _name(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> str:
    return m.name


@fact("display_name", "str", "The mapping's display name (the IdP group or identity it is for).")
def _display(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> str:
    return m.display_name or m.name


@fact("is_default", "bool", "The mapping is the default one (`defaultMapping`): it applies to "
      "every identity that matches no other entry.")
def _default(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> bool:
    return m.default_mapping


@fact("provider", "str", "The identity provider the mapping is for (`externalProviderName`).",
      nullable=True, unknown_reason="the API gave no provider for this mapping")
def _provider(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> str | None:
    return m.provider


# -- members -------------------------------------------------------------------------------------
@fact("members", "list[str]", "The mapping's members (`groupMembers`), as identities.")
def _members(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    return list(m.members)


@fact("machine_members", "list[str]", "Members that are machine identities: service accounts "
      "or workload identities (`serviceAccount:`, `principal://`, `principalSet://`, or an "
      "address ending in `.gserviceaccount.com`).")
def _machine(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    return list(m.machine_members)


@fact("has_machine_member", "bool", "One of the mapping's members is a machine identity.")
def _has_machine(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> bool:
    return bool(m.machine_members)


# -- SOC roles and permission groups -------------------------------------------------------------
@fact("role_ids", "list[int]", "Ids of the mapping's SOC roles (`socRoleIds`).")
def _role_ids(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[int]:
    return list(m.soc_role_ids)


def _roles_evidence(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[dict[str, Any]]:
    return [{"id": i, "name": ctx.roles[i].name} for i in m.soc_role_ids if i in ctx.roles]


@fact("roles", "list[str]", "Names of the mapping's SOC roles that the tenant has (evidence: id "
      "and name of each).", evidence=_roles_evidence)
def _roles(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    return [ctx.roles[i].name for i in m.soc_role_ids if i in ctx.roles]


@fact("missing_role_ids", "list[int]", "SOC role ids the mapping names that the tenant does "
      "not have.")
def _missing_roles(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[int]:
    return [i for i in m.soc_role_ids if i not in ctx.roles]


@fact("privileged_roles", "list[str]", "The mapping's roles named in the `privileged_soc_roles` "
      "parameter (case-insensitive).")
def _privileged(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    return [ctx.roles[i].name for i in m.soc_role_ids if i in ctx.privileged_role_ids]


@fact("group_ids", "list[int]", "Ids of the mapping's permission groups (`permissionGroupIds`).",
      depends_on=_PG)
def _group_ids(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[int]:
    return list(m.permission_group_ids)


@fact("groups", "list[str]", "Names of the mapping's permission groups that the tenant has.",
      depends_on=_PG)
def _groups(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    return [ctx.groups[i].name for i in m.permission_group_ids if i in ctx.groups]


@fact("missing_group_ids", "list[int]", "Permission group ids the mapping names that the tenant "
      "does not have.", depends_on=_PG, nullable=True,
      unknown_reason="the tenant's permission groups could not be read (the Chronicle surface "
      "did not list them)")
def _missing_groups(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[int] | None:
    if m.permission_group_ids and "permission_groups" in ctx.unread:
        return None
    return [i for i in m.permission_group_ids if i not in ctx.groups]


@fact("mapping_problem", "list[str]", "What is dangling in the mapping, in words (empty when "
      "nothing is): no SOC role, SOC role ids or permission group ids the tenant does not have.")
def _problem(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    problems = [] if m.soc_role_ids else ["has no SOC role"]
    if f["missing_role_ids"]:
        problems.append("SOC role ids the tenant does not have: "
                        + ", ".join(map(str, f["missing_role_ids"])))
    if f["missing_group_ids"]:
        problems.append("permission group ids the tenant does not have: "
                        + ", ".join(map(str, f["missing_group_ids"])))
    return problems


# -- environments --------------------------------------------------------------------------------
@hidden("_env_set")
def _env_set(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> frozenset[str]:
    return frozenset(fold(n) for n in m.environments if n != "*")


@fact("scope", "enum", '`wildcard` when the mapping\'s environments hold "*", else `explicit`.',
      choices=("wildcard", "explicit"))
def _scope(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> str:
    return "wildcard" if m.is_wildcard else "explicit"


@fact("environments", "list[str]", 'The mapping\'s environments as the API lists them ("*" is '
      "the wildcard).")
def _environments(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    return list(m.environments)


@fact("environment_count", "int", 'How many environments the mapping names (not counting "*").')
def _env_count(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> int:
    return len(f["_env_set"])


@fact("tenant_environments", "list[str]", "The tenant's current environments.")
def _tenant_envs(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    return ctx.env_names


def _creation_evidence(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> Any:
    return ctx.shared("environment_creation", lambda: {
        e.name: {"created_at": iso(e.created_at), "source": e.source} for e in ctx.envs.values()
    })


@fact("environment_creation", "dict", "Each current environment's creation time and where it "
      "comes from (`api`, `first_seen` by the auditor, or `unknown`).",
      evidence=_creation_evidence)
def _env_creation(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> dict[str, Any]:
    return {e.name: e.created_at for e in ctx.envs.values()}


@hidden("_sight")
def _sight(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> FirstSight:
    return ctx.access.first_sight.get(m.name) or FirstSight(ctx.now, ctx.now)


def _first_seen_evidence(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> Any:
    sight: FirstSight = f["_sight"]
    if sight.exact:
        return iso(sight.latest)
    return {"not_before": iso(sight.earliest), "not_after": iso(sight.latest)}


@fact("first_seen", "datetime", "When the mapping was first seen: the time of the first complete "
      "audit that listed it (no creation time is published; this audit when it is new). "
      "Evidence: the time, or the bounds between which it lies.", nullable=True,
      unknown_reason="the audit that first listed the mapping is no longer stored (retention)",
      evidence=_first_seen_evidence)
def _first_seen(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> datetime | None:
    sight: FirstSight = f["_sight"]
    return sight.latest if sight.exact else None


@fact("first_sight", "str", "The mapping's first sight in words: the time (as `first_seen`), or "
      "`between <time> and <time>` when the audit that first listed it is no longer stored.")
def _first_sight_text(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> str:
    sight: FirstSight = f["_sight"]
    if sight.exact:
        return iso(sight.latest) or ""
    earliest = iso(sight.earliest) if sight.earliest is not None else "the first audit"
    return f"between {earliest} and {iso(sight.latest)}"


@fact("environments_at_first_sight", "list[str]", "The tenant's current environments whose "
      "creation (or first-seen) time is unknown or not later than the mapping's first sight.",
      nullable=True, unknown_reason=_SIGHT_UNKNOWN)
def _at_sight(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str] | None:
    at = ctx.environments_at_sight(f["_sight"])
    return None if at is None else at.names


@fact("environments_at_first_sight_count", "int", "How many environments existed at the "
      "mapping's first sight (see environments_at_first_sight).", nullable=True,
      unknown_reason=_SIGHT_UNKNOWN)
def _at_sight_count(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> int | None:
    at = f["environments_at_first_sight"]
    return None if at is None else len(at)


@fact("covers_all_environments_at_first_sight", "bool", "Every environment that existed at the "
      "mapping's first sight is named in its list.", nullable=True,
      unknown_reason=_SIGHT_UNKNOWN)
def _covers(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> bool | None:
    at = ctx.environments_at_sight(f["_sight"])
    if at is None:
        return None
    names: frozenset[str] = f["_env_set"]
    return at.folded <= names


@fact("missing_environments", "list[str]", "Environments first seen after the mapping that its "
      "explicit list does not name: what a snapshot of all environments misses.", nullable=True,
      unknown_reason=_SIGHT_UNKNOWN)
def _missing(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str] | None:
    at = ctx.environments_at_sight(f["_sight"])
    if at is None:
        return None
    if m.is_wildcard:
        return []
    names: frozenset[str] = f["_env_set"]
    return [e.name for k, e in ctx.envs.items() if k not in names and k not in at.folded]


@fact("stale_environments", "list[str]", "Environments the mapping names that the tenant no "
      "longer has.")
def _stale(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    return [n for n in m.environments if n != "*" and fold(n) not in ctx.envs]


# -- changes since the last complete audit that read mappings ------------------------------------
@hidden("_previous")
def _previous(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> IdpMapping | None:
    return ctx.access.previous_mappings.get(m.name)


@fact("has_previous_audit", "bool", "The last complete audit of the tenant read its Group "
      "Mapping (the Chronicle surface).")
def _has_previous(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> bool:
    return ctx.access.has_previous_mappings


@fact("is_new_mapping", "bool", "The last complete audit read Group Mapping and did not list "
      "this mapping (false without such an audit).")
def _is_new(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> bool:
    return ctx.access.has_previous_mappings and f["_previous"] is None


@fact("new_machine_members", "list[str]", "Machine members that the mapping has now and did not "
      "have at the last complete audit (every machine member of a new mapping).")
def _new_machine(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    if not ctx.access.has_previous_mappings:
        return []
    prev: IdpMapping | None = f["_previous"]
    before = set() if prev is None else {fold(x) for x in prev.members}
    return [x for x in m.machine_members if fold(x) not in before]


@fact("new_since_last_audit", "list[str]", "What CHG-003 reports, in words: `new mapping`, and "
      "each new machine member (e.g. `machine member serviceAccount:ci@p.iam.gserviceaccount.com`"
      ").")
def _news(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    news = ["new mapping"] if f["is_new_mapping"] else []
    return news + [f"machine member {x}" for x in f["new_machine_members"]]


@fact("gained_members", "list[str]", "Members the mapping has now and did not have at the last "
      "complete audit (none for a new mapping).")
def _gained_members(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    prev: IdpMapping | None = f["_previous"]
    if prev is None:
        return []
    before = {fold(x) for x in prev.members}
    return [x for x in m.members if fold(x) not in before]


@fact("gained_roles", "list[str]", "SOC roles the mapping has now and did not have at the last "
      "complete audit.")
def _gained_roles(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    prev: IdpMapping | None = f["_previous"]
    if prev is None:
        return []
    return [role_label(ctx, r) for r in m.soc_role_ids if r not in prev.soc_role_ids]


@fact("gained_groups", "list[str]", "Permission groups the mapping has now and did not have at "
      "the last complete audit.", depends_on=_PG)
def _gained_groups(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    prev: IdpMapping | None = f["_previous"]
    if prev is None:
        return []
    return [group_label(ctx, g) for g in m.permission_group_ids
            if g not in prev.permission_group_ids]


@fact("gained_environments", "list[str]", "Environments the mapping names now but did not at "
      'the last complete audit (none when it was "*" then).')
def _gained_envs(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    prev: IdpMapping | None = f["_previous"]
    if prev is None or prev.is_wildcard:
        return []
    before = {fold(n) for n in prev.environments}
    return [n for n in m.environments if n != "*" and fold(n) not in before]


@fact("became_wildcard", "bool", 'The mapping\'s environments hold "*" now and did not at the '
      "last complete audit.")
def _became_wildcard(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> bool:
    prev: IdpMapping | None = f["_previous"]
    return prev is not None and m.is_wildcard and not prev.is_wildcard


@fact("scope_widened", "bool", "Since the last complete audit the mapping gained a member, a "
      'SOC role, a permission group or an environment, or became "*" (false for a new mapping).')
def _widened(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> bool:
    prev: IdpMapping | None = f["_previous"]
    if prev is None or prev == m:
        return False
    return bool(f["gained_members"] or f["gained_roles"] or f["gained_groups"]
                or f["gained_environments"] or f["became_wildcard"])


@fact("scope_changes", "list[str]", "How the mapping's access widened since the last complete "
      'audit, in words (e.g. `member group:soc@acme.com`, `environments became "*"`).')
def _changes(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> list[str]:
    if not f["scope_widened"]:
        return []
    changes = [f"member {x}" for x in f["gained_members"]]
    changes += [f"SOC role {r}" for r in f["gained_roles"]]
    changes += [f"permission group {g}" for g in f["gained_groups"]]
    changes += [f"environment {e}" for e in f["gained_environments"]]
    if f["became_wildcard"]:
        changes.append('environments became "*"')
    return changes


def scope_of(ctx: TenantContext, m: IdpMapping, *, before: bool = False) -> dict[str, Any]:
    roles = ctx.previous_roles if before else {}
    groups = ctx.previous_groups if before else {}
    return {
        "members": list(m.members),
        "roles": [roles.get(r) or role_label(ctx, r) for r in m.soc_role_ids],
        "groups": [groups.get(g) or group_label(ctx, g) for g in m.permission_group_ids],
        "environments": list(m.environments),
    }


@fact("scope_before", "dict", "The mapping's members, SOC roles, permission groups and "
      "environments at the last complete audit.", nullable=True,
      unknown_reason="the mapping was not in the last complete audit")
def _before(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> dict[str, Any] | None:
    prev: IdpMapping | None = f["_previous"]
    return None if prev is None else scope_of(ctx, prev, before=True)


@fact("scope_after", "dict", "The mapping's members, SOC roles, permission groups and "
      "environments now.")
def _after(ctx: TenantContext, m: IdpMapping, f: MappingFacts) -> dict[str, Any]:
    return scope_of(ctx, m)


__all__ = ["MappingFacts", "scope_of"]
