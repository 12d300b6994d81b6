"""Facts: what the rules may ask about a key (or a tenant), each one named, typed and documented.

The registry :data:`KEY_FACTS` is the only vocabulary of the rule files: a condition, a message
placeholder or an evidence entry naming anything else is a validation error. A key's facts are
computed lazily and once (:class:`KeyFacts`), from maps that :mod:`auditor.engine.context` builds
once per tenant. ``None`` means *unknown*: the data does not tell (see ``unknown_reason``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ClassVar, Literal, TypeVar

from auditor.clock import iso
from auditor.engine.context import TenantContext, fold
from auditor.soar.models import ApiKey, Inventory

FactType = Literal["bool", "int", "str", "enum", "datetime", "list[str]", "list[int]", "dict"]
# fn(ctx, item, facts) -> value: item is the resource (an ApiKey, an IdpMapping, an IAM member).
Compute = Callable[..., Any]
_F = TypeVar("_F", bound=Callable[..., Any])

# What a fact's value comes from, when that source is not the same on every instance. A rule
# depends on a source when its condition reads a fact tagged with it (or when its file says so in
# `depends_on`). Instances migrated to Google Cloud replace permission groups with IAM roles.
PERMISSION_GROUPS = "permission_groups"
DEPENDENCIES: dict[str, str] = {
    PERMISSION_GROUPS: "the SOAR permission groups (replaced by IAM roles on instances migrated "
    "to Google Cloud)",
}


@dataclass(frozen=True, slots=True)
class FactSpec:
    name: str
    type: FactType
    doc: str
    nullable: bool = False
    unknown_reason: str = ""  # why the value can be unknown (shown in `unknown` findings)
    choices: tuple[str, ...] = ()  # the values of an enum
    compute: Compute | None = None
    evidence: Compute | None = None  # a richer JSON value for evidence (default: the value)
    depends_on: tuple[str, ...] = ()  # sources (DEPENDENCIES) the value is computed from


class Registry:
    """The facts of one resource type: ``specs`` (the vocabulary of rule files) and the function
    of every fact, plus hidden helpers that rules cannot name."""

    def __init__(self, resource: str) -> None:
        self.resource = resource
        self.specs: dict[str, FactSpec] = {}
        self.compute: dict[str, Compute] = {}

    def fact(
        self,
        name: str,
        type_: FactType,
        doc: str,
        *,
        nullable: bool = False,
        unknown_reason: str = "",
        choices: tuple[str, ...] = (),
        evidence: Compute | None = None,
        depends_on: tuple[str, ...] = (),
    ) -> Callable[[_F], _F]:
        def register(fn: _F) -> _F:
            self.specs[name] = FactSpec(
                name, type_, doc, nullable, unknown_reason, choices, fn, evidence, depends_on
            )
            self.compute[name] = fn
            return fn

        return register

    def hidden(self, name: str) -> Callable[[_F], _F]:
        def register(fn: _F) -> _F:
            self.compute[name] = fn
            return fn

        return register


KEYS = Registry("api_key")
KEY_FACTS: dict[str, FactSpec] = KEYS.specs
fact = KEYS.fact
hidden = KEYS.hidden


class ItemFacts(dict[str, Any]):
    """The facts of one resource: ``facts[name]`` computes a fact on first use and keeps it."""

    __slots__ = ("ctx", "item")
    registry: ClassVar[Registry] = KEYS

    def __init__(self, ctx: TenantContext, item: Any) -> None:
        super().__init__()
        self.ctx = ctx
        self.item = item

    def __missing__(self, name: str) -> Any:
        value = self.registry.compute[name](self.ctx, self.item, self)
        self[name] = value
        return value

    def evidence(self, name: str) -> Any:
        """The fact as a JSON-serializable evidence value."""
        spec = self.registry.specs[name]
        if spec.evidence is not None:
            return spec.evidence(self.ctx, self.item, self)
        return jsonable(self[name])


class KeyFacts(ItemFacts):
    """The facts of one API key."""

    __slots__ = ()
    registry = KEYS

    def __init__(self, ctx: TenantContext, key: ApiKey) -> None:
        super().__init__(ctx, key)

    @property
    def key(self) -> ApiKey:
        key: ApiKey = self.item
        return key


def jsonable(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if (kind is list or kind is tuple) and all(type(v) is str for v in value):
        return list(value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


# -- identity ------------------------------------------------------------------------------------
@fact("tenant", "str", "The tenant's name, as configured.")
def _tenant(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> str:
    return ctx.tenant


@fact("id", "int", "The key's id.")
def _id(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> int:
    return key.id


@fact("name", "str", "The key's name (the application it was created for).")
def _name(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> str:
    return key.name


@fact("is_system", "bool", "The key is a system key (`isSystem`).")
def _is_system(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> bool:
    return key.is_system


@fact("created_at", "datetime", "When the key was created.", nullable=True,
      unknown_reason="the API gave no creation time for this key")
def _created(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> datetime | None:
    return key.created_at


@fact("modified_at", "datetime", "When the key was last modified.", nullable=True,
      unknown_reason="the API gave no modification time for this key")
def _modified(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> datetime | None:
    return key.modified_at


@fact("age_days", "int", "Whole days from the key's creation to the audit.", nullable=True,
      unknown_reason="the API gave no creation time for this key")
def _age(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> int | None:
    return None if key.created_at is None else (ctx.now - key.created_at).days


# -- permission groups and SOC roles -------------------------------------------------------------
_PG = (PERMISSION_GROUPS,)


def group_label(ctx: TenantContext, gid: int) -> str:
    group = ctx.groups.get(gid)
    if group is not None:
        return group.name
    return ctx.previous_groups.get(gid, f"#{gid}")


def role_label(ctx: TenantContext, rid: int) -> str:
    role = ctx.roles.get(rid)
    if role is not None:
        return role.name
    return ctx.previous_roles.get(rid, f"#{rid}")


@fact("group_ids", "list[int]", "Ids of the key's permission groups (permissionGroupId and "
      "permissionGroupIds together).", depends_on=_PG)
def _group_ids(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> tuple[int, ...]:
    return key.group_ids


def _groups_evidence(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[dict[str, Any]]:
    return [
        {"id": g.id, "name": g.name, "all_environments": g.all_environments}
        for g in (ctx.groups[i] for i in key.group_ids if i in ctx.groups)
    ]


@fact("groups", "list[str]", "Names of the key's permission groups that the tenant has "
      "(evidence: id, name and All Environments state of each).", evidence=_groups_evidence,
      depends_on=_PG)
def _groups(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    return [ctx.groups[i].name for i in key.group_ids if i in ctx.groups]


@fact("missing_group_ids", "list[int]", "Group ids the key names that the tenant does not have.",
      depends_on=_PG)
def _missing_groups(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[int]:
    if ctx.groups.keys() >= set(key.group_ids):
        return []
    return [i for i in key.group_ids if i not in ctx.groups]


@fact("group_problem", "str", "What is wrong with the key's permission groups, in words (empty "
      "when nothing is): no group, or group ids the tenant does not have.", depends_on=_PG)
def _group_problem(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> str:
    if not key.group_ids:
        return "has no permission group"
    missing = f["missing_group_ids"]
    if missing:
        return "names permission group ids that the tenant does not have: " + ", ".join(
            map(str, missing))
    return ""


@fact("admin_groups", "list[str]", "The key's groups named in the `admin_permission_groups` "
      "parameter (case-insensitive).", depends_on=_PG)
def _admin_groups(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    if ctx.admin_group_ids.isdisjoint(key.group_ids):
        return []
    return [ctx.groups[i].name for i in key.group_ids if i in ctx.admin_group_ids]


@fact("has_all_environments", "bool", "The key has All Environments: true when any of its "
      "groups has it, false when every group lacks it (or it has no group), else unknown.",
      nullable=True, unknown_reason="the All Environments state of a permission group of the "
      "key could not be read (see the groups in the evidence)", depends_on=_PG)
def _has_all(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> bool | None:
    result: bool | None = False
    for gid in key.group_ids:
        group = ctx.groups.get(gid)
        state = group.all_environments if group is not None else False  # no group grants nothing
        if state is True:
            return True
        if state is None:
            result = None
    return result


@fact("all_environments_groups", "list[str]", "The key's groups that have All Environments.",
      depends_on=_PG)
def _all_env_groups(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    return [ctx.groups[i].name for i in key.group_ids
            if i in ctx.groups and ctx.groups[i].all_environments is True]


@fact("unknown_state_groups", "list[str]", "The key's groups whose All Environments state "
      "could not be read.", depends_on=_PG)
def _unknown_groups(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    return [ctx.groups[i].name for i in key.group_ids
            if i in ctx.groups and ctx.groups[i].all_environments is None]


@fact("role_ids", "list[int]", "Ids of the key's SOC roles (socRoleId and socRoleIds together).")
def _role_ids(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> tuple[int, ...]:
    return key.role_ids


def _roles_evidence(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[dict[str, Any]]:
    return [{"id": i, "name": ctx.roles[i].name} for i in key.role_ids if i in ctx.roles]


@fact("roles", "list[str]", "Names of the key's SOC roles that the tenant has "
      "(evidence: id and name of each).", evidence=_roles_evidence)
def _roles(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    return [ctx.roles[i].name for i in key.role_ids if i in ctx.roles]


@fact("missing_role_ids", "list[int]", "Role ids the key names that the tenant does not have.")
def _missing_roles(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[int]:
    if ctx.roles.keys() >= set(key.role_ids):
        return []
    return [i for i in key.role_ids if i not in ctx.roles]


@fact("role_problem", "str", "What is wrong with the key's SOC roles, in words (empty when "
      "nothing is): no role, or role ids the tenant does not have.")
def _role_problem(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> str:
    if not key.role_ids:
        return "has no SOC role"
    missing = f["missing_role_ids"]
    if missing:
        return "names SOC role ids that the tenant does not have: " + ", ".join(map(str, missing))
    return ""


@fact("privileged_roles", "list[str]", "The key's roles named in the `privileged_soc_roles` "
      "parameter (case-insensitive).")
def _privileged(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[str]:
    if ctx.privileged_role_ids.isdisjoint(key.role_ids):
        return []
    return [ctx.roles[i].name for i in key.role_ids if i in ctx.privileged_role_ids]


# -- names ---------------------------------------------------------------------------------------
@fact("name_pattern_set", "bool", "The `key_name_pattern` parameter is set.")
def _pattern_set(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> bool:
    return ctx.name_pattern is not None


@fact("name_matches_pattern", "bool", "The key's name fully matches `key_name_pattern` "
      "(true when no pattern is set).")
def _pattern_match(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> bool:
    return ctx.name_pattern is None or ctx.name_pattern.fullmatch(key.name) is not None


@fact("duplicate_name", "bool", "Another key of the tenant has the same name (case-insensitive, "
      "trimmed).")
def _duplicate(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> bool:
    return len(ctx.keys_by_name.get(fold(key.name), ())) > 1


@fact("same_name_key_ids", "list[int]", "Ids of the other keys with the same name.")
def _same_name(ctx: TenantContext, key: ApiKey, f: KeyFacts) -> list[int]:
    return [i for i in ctx.keys_by_name.get(fold(key.name), ()) if i != key.id]


# -- tenant facts (rules with `resource: tenant`) ------------------------------------------------
TENANT_FACTS: dict[str, FactSpec] = {
    spec.name: spec
    for spec in (
        FactSpec("tenant", "str", "The tenant's name, as configured."),
        FactSpec("collected", "bool", "The tenant was collected in full."),
        FactSpec("error", "str", "Why the tenant could not be collected.", nullable=True,
                 unknown_reason="the tenant was collected"),
        FactSpec("api_key_count", "int", "How many API keys the tenant has.", nullable=True,
                 unknown_reason="the tenant could not be collected"),
        FactSpec("environment_count", "int", "How many environments the tenant has.",
                 nullable=True, unknown_reason="the tenant could not be collected"),
        FactSpec("permission_group_count", "int", "How many permission groups the tenant has.",
                 nullable=True, unknown_reason="the tenant could not be collected",
                 depends_on=_PG),
        FactSpec("soc_role_count", "int", "How many SOC roles the tenant has.", nullable=True,
                 unknown_reason="the tenant could not be collected"),
        FactSpec("unknown_state_groups", "list[str]", "Permission groups whose All Environments "
                 "state could not be read.", nullable=True,
                 unknown_reason="the tenant could not be collected", depends_on=_PG),
    )
}


def tenant_facts(tenant: str, inventory: Inventory | None, error: str | None) -> dict[str, Any]:
    """The facts of a tenant; ``inventory`` None when it could not be collected."""
    if inventory is None:
        return {"tenant": tenant, "collected": False, "error": error, "api_key_count": None,
                "environment_count": None, "permission_group_count": None,
                "soc_role_count": None, "unknown_state_groups": None}
    counts = inventory.counts()
    return {
        "tenant": tenant,
        "collected": True,
        "error": None,
        "api_key_count": counts["api_keys"],
        "environment_count": counts["environments"],
        "permission_group_count": counts["permission_groups"],
        "soc_role_count": counts["soc_roles"],
        "unknown_state_groups": [
            g.name for g in inventory.permission_groups if g.all_environments is None
        ],
    }


# The facts of a Group Mapping entry and of an IAM member (their own modules register them).
MAPPINGS = Registry("idp_mapping")
MAPPING_FACTS: dict[str, FactSpec] = MAPPINGS.specs
IAM_MEMBERS = Registry("iam_member")
IAM_MEMBER_FACTS: dict[str, FactSpec] = IAM_MEMBERS.specs

FACTS: dict[str, dict[str, FactSpec]] = {
    "api_key": KEY_FACTS,
    "tenant": TENANT_FACTS,
    "idp_mapping": MAPPING_FACTS,
    "iam_member": IAM_MEMBER_FACTS,
}


__all__ = ["DEPENDENCIES", "FACTS", "IAM_MEMBERS", "IAM_MEMBER_FACTS", "KEYS", "KEY_FACTS",
           "MAPPINGS", "MAPPING_FACTS", "PERMISSION_GROUPS", "TENANT_FACTS", "FactSpec",
           "ItemFacts", "KeyFacts", "Registry", "jsonable", "tenant_facts"]
