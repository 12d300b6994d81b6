"""Everything the key facts need from a tenant, computed once per tenant (maps, not searches).

Environment names are matched case-insensitively (SOAR treats them as unique names); lists shown
to users keep the tenant's own spelling.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from auditor.config import RuleParams
from auditor.engine.access import AccessContext, FirstSight, build_access
from auditor.engine.history import TenantHistory
from auditor.soar.models import ApiKey, Inventory, PermissionGroup, SocRole

TimeSource = Literal["api", "first_seen", "unknown"]


@functools.lru_cache(maxsize=1 << 16)
def fold(name: str) -> str:
    """The form under which names are compared: trimmed, case-folded."""
    return name.strip().casefold()


@dataclass(frozen=True, slots=True)
class EnvTime:
    name: str  # the tenant's spelling
    created_at: datetime | None  # None: unknown
    source: TimeSource


@dataclass(frozen=True, slots=True)
class AtCreation:
    names: list[str]  # tenant spelling, sorted
    folded: frozenset[str]


@dataclass(slots=True)
class TenantContext:
    tenant: str
    now: datetime
    params: RuleParams
    groups: dict[int, PermissionGroup]
    roles: dict[int, SocRole]
    # folded environment name -> its creation time (tenant's current environments, sorted by name)
    envs: dict[str, EnvTime]
    has_known_env_time: bool
    # folded key name -> ids of every key of the tenant with that name
    keys_by_name: dict[str, list[int]]
    admin_group_ids: frozenset[int]  # groups named in admin_permission_groups
    privileged_role_ids: frozenset[int]  # roles named in privileged_soc_roles
    name_pattern: re.Pattern[str] | None
    has_previous_audit: bool
    previous_keys: dict[int, ApiKey]
    previous_groups: dict[int, str]
    previous_roles: dict[int, str]
    env_names: list[str] = field(default_factory=list)  # tenant spelling, sorted
    # Inventory fields an optional call could not fill (e.g. "permission_groups" where the
    # Chronicle surface no longer lists them): facts that need them are unknown, never "missing".
    unread: frozenset[str] = frozenset()
    # Group Mapping and IAM (the access that replaces API keys)
    access: AccessContext = field(default_factory=AccessContext)
    _at_creation: dict[datetime | None, AtCreation | None] = field(default_factory=dict)
    _at_sight: dict[FirstSight, AtCreation | None] = field(default_factory=dict)
    _shared: dict[str, Any] = field(default_factory=dict)
    _by_names: dict[tuple[Callable[..., Any], tuple[str, ...]], Any] = field(
        default_factory=dict
    )

    def shared_by(self, names: tuple[str, ...], make: Callable[[tuple[str, ...]], Any]) -> Any:
        """``make(names)``, computed once per distinct list of names (keys often share one)."""
        try:
            return self._by_names[make, names]
        except KeyError:
            value = self._by_names[make, names] = make(names)
            return value

    def shared(self, name: str, make: Callable[[], Any]) -> Any:
        """A value computed once per tenant and shared (read-only) by every key's evidence."""
        try:
            return self._shared[name]
        except KeyError:
            value = self._shared[name] = make()
            return value

    def environments_at(self, created: datetime | None) -> AtCreation | None:
        """The current environments whose creation time is unknown or not later than
        ``created``; None when that cannot be decided (``created`` unknown while some
        environment's creation time is known). Cached per creation time."""
        try:
            return self._at_creation[created]
        except KeyError:
            pass
        result: AtCreation | None
        if created is None and self.has_known_env_time:
            result = None
        else:
            folded = [k for k, e in self.envs.items()
                      if e.created_at is None or created is None or e.created_at <= created]
            result = AtCreation([self.envs[k].name for k in folded], frozenset(folded))
        self._at_creation[created] = result
        return result

    def environments_at_sight(self, sight: FirstSight) -> AtCreation | None:
        """The current environments first seen (or created) at or before a mapping's first
        sight: those whose time is unknown or not later than it. None when that cannot be
        decided: the first sight is only known between two bounds and an environment's time
        falls between them. Cached per first sight."""
        try:
            return self._at_sight[sight]
        except KeyError:
            pass
        folded: list[str] = []
        result: AtCreation | None = None
        for k, e in self.envs.items():
            at = e.created_at
            if at is None or (sight.earliest is not None and at <= sight.earliest):
                folded.append(k)
            elif at <= sight.latest:
                break  # between the bounds: undecidable
        else:
            result = AtCreation([self.envs[k].name for k in folded], frozenset(folded))
        self._at_sight[sight] = result
        return result


def env_times(
    inventory: Inventory, history: TenantHistory | None, now: datetime
) -> dict[str, EnvTime]:
    """Creation time of each current environment (rules.md): from the API when given; else the
    time the auditor first saw it, but only when an earlier complete audit did not list it; else
    unknown. An environment absent from the history while an earlier complete audit exists is
    first seen by this audit (``now``)."""
    first_audit = history.first_complete_audit_at if history is not None else None
    first_seen = (
        {fold(name): at for name, at in history.env_first_seen.items()} if history else {}
    )
    out: dict[str, EnvTime] = {}
    for env in sorted(inventory.environments, key=lambda e: fold(e.name)):
        key = fold(env.name)
        if env.created_at is not None:
            out[key] = EnvTime(env.name, env.created_at, "api")
            continue
        if first_audit is not None:
            seen = first_seen.get(key, now)
            if seen > first_audit:
                out[key] = EnvTime(env.name, seen, "first_seen")
                continue
        out[key] = EnvTime(env.name, None, "unknown")
    return out


def build_context(
    inventory: Inventory, history: TenantHistory | None, params: RuleParams, now: datetime
) -> TenantContext:
    envs = env_times(inventory, history, now)
    keys_by_name: dict[str, list[int]] = defaultdict(list)
    for key in inventory.api_keys:
        keys_by_name[fold(key.name)].append(key.id)
    previous = history.previous_inventory if history is not None else None
    admin = {fold(n) for n in params.admin_permission_groups}
    priv = {fold(n) for n in params.privileged_soc_roles}
    return TenantContext(
        tenant=inventory.tenant,
        now=now,
        params=params,
        groups={g.id: g for g in inventory.permission_groups},
        roles={r.id: r for r in inventory.soc_roles},
        envs=envs,
        has_known_env_time=any(e.created_at is not None for e in envs.values()),
        keys_by_name=dict(keys_by_name),
        admin_group_ids=frozenset(
            g.id for g in inventory.permission_groups if fold(g.name) in admin
        ),
        privileged_role_ids=frozenset(r.id for r in inventory.soc_roles if fold(r.name) in priv),
        name_pattern=(
            re.compile(params.key_name_pattern) if params.key_name_pattern is not None else None
        ),
        has_previous_audit=previous is not None,
        previous_keys={k.id: k for k in previous.api_keys} if previous else {},
        previous_groups={g.id: g.name for g in previous.permission_groups} if previous else {},
        previous_roles={r.id: r.name for r in previous.soc_roles} if previous else {},
        env_names=[e.name for e in envs.values()],
        unread=frozenset(inventory.unread),
        access=build_access(inventory, history, params, now),
    )
