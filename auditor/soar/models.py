"""The normalized inventory of one SOAR tenant: plain frozen values, no secrets.

These types are what the collect stage hands to the evaluate stage. No field of any type here can
hold an API key secret: the raw ``key`` field is dropped in :mod:`auditor.soar.shapes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

AuthKind = Literal["appkey", "google"]
# The API surfaces a tenant can be read over: the legacy SOAR API, the Chronicle API, and the
# SecOps project's IAM policy (Cloud Resource Manager).
Surface = Literal["legacy", "chronicle", "iam"]
SURFACES: tuple[Surface, ...] = ("legacy", "chronicle", "iam")
_MACHINE_PREFIXES = ("serviceaccount:", "principal://", "principalset://")


def is_machine_identity(identity: str) -> bool:
    """A service account or workload identity (chronicle-api.md): ``serviceAccount:``,
    ``principal://`` or ``principalSet://``, or an address ending in ``.gserviceaccount.com``.
    Anything else (an IdP group, a workforce user) is a person or a group of people."""
    text = identity.strip().lower()
    return text.startswith(_MACHINE_PREFIXES) or text.endswith(".gserviceaccount.com")


def ms_to_dt(value: int | float | None) -> datetime | None:
    """Unix milliseconds -> aware UTC datetime (None stays None)."""
    if value is None:
        return None
    return datetime.fromtimestamp(float(value) / 1000.0, tz=UTC)


def dt_to_ms(value: datetime | None) -> int | None:
    if value is None:
        return None
    return round(value.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    id: int | None = None
    # Creation time as given by the API; None when the API does not say (the usual case).
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PermissionGroup:
    id: int
    name: str
    # True / False when the "All Environments" state could be decided, None when it could not.
    all_environments: bool | None
    # Where the answer came from (e.g. "GetAllEnvironmentStatus", "detail.allEnvironments").
    all_environments_source: str | None = None


@dataclass(frozen=True, slots=True)
class SocRole:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    name: str
    is_system: bool
    group_ids: tuple[int, ...]  # union of permissionGroupId and permissionGroupIds, sorted
    role_ids: tuple[int, ...]  # union of socRoleId and socRoleIds, sorted
    environments: tuple[str, ...]  # as listed by the API; "*" is the wildcard
    created_at: datetime | None
    modified_at: datetime | None = None

    @property
    def is_wildcard(self) -> bool:
        return "*" in self.environments


@dataclass(frozen=True, slots=True)
class IdpMapping:
    """A Group Mapping entry (Chronicle ``legacySoarIdpMappingGroups``): who (members) gets which
    SOC roles, permission groups and environments inside SOAR."""

    name: str  # the resource name (projects/.../legacySoarIdpMappingGroups/<id>)
    display_name: str
    members: tuple[str, ...]  # identities, as the API gives them (see shapes)
    soc_role_ids: tuple[int, ...]
    environments: tuple[str, ...]  # environment names; "*" is the wildcard
    permission_group_ids: tuple[int, ...] = ()
    default_mapping: bool = False
    provider: str | None = None  # externalProviderName
    workforce_pool: str | None = None

    @property
    def is_wildcard(self) -> bool:
        return "*" in self.environments

    @property
    def machine_members(self) -> tuple[str, ...]:
        return tuple(m for m in self.members if is_machine_identity(m))


@dataclass(frozen=True, slots=True)
class SoarUser:
    """A SOAR user (Chronicle ``legacySoarUsers``)."""

    name: str  # resource name
    email: str | None
    user_type: str | None
    soc_roles: tuple[str, ...]
    environments: tuple[str, ...]
    has_all_environments: bool | None
    permission_groups: tuple[str, ...] = ()
    account_state: str | None = None
    last_login_at: datetime | None = None
    provider: str | None = None


@dataclass(frozen=True, slots=True)
class IamCondition:
    expression: str
    title: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class IamBinding:
    """One binding of the SecOps project's IAM policy (policy version 3, conditions kept)."""

    role: str
    members: tuple[str, ...]
    condition: IamCondition | None = None


@dataclass(frozen=True, slots=True)
class DriftNote:
    """A response that did not have the shape the client knows (reported once per run)."""

    endpoint: str
    field: str
    detail: str


@dataclass(frozen=True, slots=True)
class Inventory:
    tenant: str
    collected_at: datetime
    environments: tuple[Environment, ...]
    permission_groups: tuple[PermissionGroup, ...]
    soc_roles: tuple[SocRole, ...]
    api_keys: tuple[ApiKey, ...]
    system_version: str | None = None
    auth: AuthKind = "appkey"
    drift: tuple[DriftNote, ...] = field(default=())
    # What was read, and how: the surfaces, and per endpoint with several dialects the one that
    # answered (e.g. (("GetSocRoles", "post"),)).
    surfaces: tuple[Surface, ...] = ("legacy",)
    dialects: tuple[tuple[str, str], ...] = ()
    mappings: tuple[IdpMapping, ...] = ()
    users: tuple[SoarUser, ...] = ()
    iam_bindings: tuple[IamBinding, ...] = ()
    iam_project: str | None = None
    # Inventory fields that an optional call could not fill (its answer was an error).
    unread: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        counts = {
            "api_keys": len(self.api_keys),
            "environments": len(self.environments),
            "permission_groups": len(self.permission_groups),
            "soc_roles": len(self.soc_roles),
        }
        if "chronicle" in self.surfaces:
            counts["idp_mappings"] = len(self.mappings)
            counts["users"] = len(self.users)
        if "iam" in self.surfaces:
            counts["iam_bindings"] = len(self.iam_bindings)
        return counts

    def has(self, surface: Surface) -> bool:
        return surface in self.surfaces

    # -- serialization (inventory.json, state snapshots, capture) -------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "collected_at": self.collected_at.isoformat(),
            "system_version": self.system_version,
            "auth": self.auth,
            "environments": [
                {"id": e.id, "name": e.name, "created_at": _iso(e.created_at)}
                for e in self.environments
            ],
            "permission_groups": [
                {
                    "id": g.id,
                    "name": g.name,
                    "all_environments": g.all_environments,
                    "all_environments_source": g.all_environments_source,
                }
                for g in self.permission_groups
            ],
            "soc_roles": [{"id": r.id, "name": r.name} for r in self.soc_roles],
            "api_keys": [
                {
                    "id": k.id,
                    "name": k.name,
                    "is_system": k.is_system,
                    "group_ids": list(k.group_ids),
                    "role_ids": list(k.role_ids),
                    "environments": list(k.environments),
                    "created_at": _iso(k.created_at),
                    "modified_at": _iso(k.modified_at),
                }
                for k in self.api_keys
            ],
            "drift": [
                {"endpoint": d.endpoint, "field": d.field, "detail": d.detail} for d in self.drift
            ],
            "surfaces": list(self.surfaces),
            "dialects": {endpoint: dialect for endpoint, dialect in self.dialects},
            "iam_project": self.iam_project,
            "unread": list(self.unread),
            "idp_mappings": [
                {
                    "name": m.name,
                    "display_name": m.display_name,
                    "members": list(m.members),
                    "soc_role_ids": list(m.soc_role_ids),
                    "environments": list(m.environments),
                    "permission_group_ids": list(m.permission_group_ids),
                    "default_mapping": m.default_mapping,
                    "provider": m.provider,
                    "workforce_pool": m.workforce_pool,
                }
                for m in self.mappings
            ],
            "users": [
                {
                    "name": u.name,
                    "email": u.email,
                    "user_type": u.user_type,
                    "soc_roles": list(u.soc_roles),
                    "environments": list(u.environments),
                    "has_all_environments": u.has_all_environments,
                    "permission_groups": list(u.permission_groups),
                    "account_state": u.account_state,
                    "last_login_at": _iso(u.last_login_at),
                    "provider": u.provider,
                }
                for u in self.users
            ],
            "iam_bindings": [
                {
                    "role": b.role,
                    "members": list(b.members),
                    "condition": None if b.condition is None else {
                        "expression": b.condition.expression, "title": b.condition.title,
                        "description": b.condition.description},
                }
                for b in self.iam_bindings
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Inventory:
        return cls(
            tenant=data["tenant"],
            collected_at=datetime.fromisoformat(str(data["collected_at"]).replace("Z", "+00:00")),
            system_version=data.get("system_version"),
            auth=data.get("auth", "appkey"),
            environments=tuple(
                Environment(
                    name=e["name"], id=e.get("id"), created_at=_parse_iso(e.get("created_at"))
                )
                for e in data.get("environments", [])
            ),
            permission_groups=tuple(
                PermissionGroup(
                    id=g["id"],
                    name=g["name"],
                    all_environments=g.get("all_environments"),
                    all_environments_source=g.get("all_environments_source"),
                )
                for g in data.get("permission_groups", [])
            ),
            soc_roles=tuple(SocRole(id=r["id"], name=r["name"]) for r in data.get("soc_roles", [])),
            api_keys=tuple(
                ApiKey(
                    id=k["id"],
                    name=k["name"],
                    is_system=bool(k.get("is_system", False)),
                    group_ids=tuple(k.get("group_ids", [])),
                    role_ids=tuple(k.get("role_ids", [])),
                    environments=tuple(k.get("environments", [])),
                    created_at=_parse_iso(k.get("created_at")),
                    modified_at=_parse_iso(k.get("modified_at")),
                )
                for k in data.get("api_keys", [])
            ),
            drift=tuple(
                DriftNote(endpoint=d["endpoint"], field=d["field"], detail=d["detail"])
                for d in data.get("drift", [])
            ),
            surfaces=tuple(data.get("surfaces", ["legacy"])),
            dialects=tuple(sorted(data.get("dialects", {}).items())),
            iam_project=data.get("iam_project"),
            unread=tuple(data.get("unread", [])),
            mappings=tuple(
                IdpMapping(
                    name=m["name"], display_name=m.get("display_name", ""),
                    members=tuple(m.get("members", [])),
                    soc_role_ids=tuple(m.get("soc_role_ids", [])),
                    environments=tuple(m.get("environments", [])),
                    permission_group_ids=tuple(m.get("permission_group_ids", [])),
                    default_mapping=bool(m.get("default_mapping", False)),
                    provider=m.get("provider"), workforce_pool=m.get("workforce_pool"),
                )
                for m in data.get("idp_mappings", [])
            ),
            users=tuple(
                SoarUser(
                    name=u["name"], email=u.get("email"), user_type=u.get("user_type"),
                    soc_roles=tuple(u.get("soc_roles", [])),
                    environments=tuple(u.get("environments", [])),
                    has_all_environments=u.get("has_all_environments"),
                    permission_groups=tuple(u.get("permission_groups", [])),
                    account_state=u.get("account_state"),
                    last_login_at=_parse_iso(u.get("last_login_at")),
                    provider=u.get("provider"),
                )
                for u in data.get("users", [])
            ),
            iam_bindings=tuple(
                IamBinding(
                    role=b["role"], members=tuple(b.get("members", [])),
                    condition=None if not b.get("condition") else IamCondition(
                        expression=b["condition"].get("expression", ""),
                        title=b["condition"].get("title"),
                        description=b["condition"].get("description")),
                )
                for b in data.get("iam_bindings", [])
            ),
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TenantCollection:
    """The outcome of collecting one tenant: an inventory, or a one-line error (never both)."""

    tenant: str
    inventory: Inventory | None
    error: str | None = None
    auth: AuthKind = "appkey"
    surfaces: tuple[Surface, ...] = ("legacy",)  # what was (to be) read

    @property
    def ok(self) -> bool:
        return self.inventory is not None and self.error is None
