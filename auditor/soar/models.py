"""The normalized inventory of one SOAR tenant: plain frozen values, no secrets.

These types are what the collect stage hands to the evaluate stage. No field of any type here can
hold an API key secret: the raw ``key`` field is dropped in :mod:`auditor.soar.shapes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

AuthKind = Literal["appkey", "google"]


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

    def counts(self) -> dict[str, int]:
        return {
            "api_keys": len(self.api_keys),
            "environments": len(self.environments),
            "permission_groups": len(self.permission_groups),
            "soc_roles": len(self.soc_roles),
        }

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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Inventory:
        return cls(
            tenant=data["tenant"],
            collected_at=_parse_iso(data["collected_at"]) or datetime.now(UTC),
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

    @property
    def ok(self) -> bool:
        return self.inventory is not None and self.error is None
