"""What the Group Mapping and IAM facts need from a tenant, computed once per tenant (maps).

The access that replaces API keys (chronicle-api.md): Group Mapping entries read over the
Chronicle API, and the bindings of the SecOps project's IAM policy. A mapping has no published
creation time: its **first seen** time is the first complete audit that listed it (from the
history), known exactly or only between two bounds when that audit is no longer stored.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from auditor.config import RuleParams
from auditor.engine.history import TenantHistory
from auditor.soar.models import IamBinding, IamCondition, IdpMapping, Inventory

_NOT_ALNUM = re.compile(r"[^0-9a-z]")
CUSTOM_ROLE_PREFIX = "soar_custom_"


def custom_role_key(name: str) -> str:
    """The form under which ``SOAR_Custom_<group>`` roles and group names are matched:
    case-folded, every character other than a letter or digit written as ``_``."""
    return _NOT_ALNUM.sub("_", name.strip().casefold())


def custom_role_for_group(group: str) -> str:
    return CUSTOM_ROLE_PREFIX + custom_role_key(group)


@dataclass(frozen=True, slots=True)
class Grant:
    """One role of an IAM member: from one binding, with that binding's condition."""

    role: str
    condition: IamCondition | None


@dataclass(frozen=True, slots=True)
class FirstSight:
    """When a mapping was first seen: exactly (``earliest == latest``), or between two bounds;
    ``earliest`` None means no lower bound is known."""

    earliest: datetime | None
    latest: datetime

    @property
    def exact(self) -> bool:
        return self.earliest == self.latest


@dataclass(slots=True)
class AccessContext:
    surfaces: frozenset[str] = frozenset()
    iam_project: str | None = None
    # -- Group Mapping
    has_previous_mappings: bool = False  # the last complete audit read the Chronicle surface
    previous_mappings: dict[str, IdpMapping] = field(default_factory=dict)
    first_sight: dict[str, FirstSight] = field(default_factory=dict)  # by resource name
    # -- IAM
    grants: dict[str, tuple[Grant, ...]] = field(default_factory=dict)  # member -> its grants
    has_previous_iam: bool = False  # the last complete audit read the IAM policy
    previous_grants: dict[str, tuple[Grant, ...]] = field(default_factory=dict)
    admin_iam_roles: frozenset[str] = frozenset()  # case-folded
    # custom_role_key of a "SOAR_Custom_<group>" role's last path segment -> roles in the policy
    custom_roles: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def is_admin_role(self, role: str) -> bool:
        return role.strip().casefold() in self.admin_iam_roles


def grants_by_member(bindings: tuple[IamBinding, ...]) -> dict[str, tuple[Grant, ...]]:
    """Every member of the policy with its roles (one per binding), members sorted."""
    out: dict[str, list[Grant]] = defaultdict(list)
    for binding in bindings:
        for member in binding.members:
            grant = Grant(binding.role, binding.condition)
            if grant not in out[member]:
                out[member].append(grant)
    return {m: tuple(out[m]) for m in sorted(out)}


def _custom_roles(bindings: tuple[IamBinding, ...]) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = defaultdict(list)
    for binding in bindings:
        key = custom_role_key(binding.role.rsplit("/", 1)[-1])
        if key.startswith(CUSTOM_ROLE_PREFIX) and binding.role not in found[key]:
            found[key].append(binding.role)
    return {k: tuple(sorted(v)) for k, v in found.items()}


def _first_sight(
    inventory: Inventory, history: TenantHistory | None, previous: dict[str, IdpMapping],
    now: datetime,
) -> dict[str, FirstSight]:
    out: dict[str, FirstSight] = {}
    for mapping in inventory.mappings:
        name = mapping.name
        if history is not None and name in history.mapping_first_seen:
            seen = history.mapping_first_seen[name]
            out[name] = FirstSight(seen, seen)
        elif history is not None and name in history.mapping_first_seen_by:
            out[name] = FirstSight(history.first_complete_audit_at,
                                   history.mapping_first_seen_by[name])
        elif history is not None and name in previous:
            out[name] = FirstSight(history.first_complete_audit_at,
                                   history.previous_audit_at or now)
        else:
            out[name] = FirstSight(now, now)  # this audit is the first to list it
    return out


def build_access(
    inventory: Inventory, history: TenantHistory | None, params: RuleParams, now: datetime
) -> AccessContext:
    previous = history.previous_inventory if history is not None else None
    prev_chronicle = previous is not None and "chronicle" in previous.surfaces
    prev_iam = previous is not None and "iam" in previous.surfaces
    previous_mappings = (
        {m.name: m for m in previous.mappings} if previous is not None and prev_chronicle else {}
    )
    return AccessContext(
        surfaces=frozenset(inventory.surfaces),
        iam_project=inventory.iam_project,
        has_previous_mappings=prev_chronicle,
        previous_mappings=previous_mappings,
        first_sight=_first_sight(inventory, history, previous_mappings, now),
        grants=grants_by_member(inventory.iam_bindings),
        has_previous_iam=prev_iam,
        previous_grants=(
            grants_by_member(previous.iam_bindings) if previous is not None and prev_iam else {}
        ),
        admin_iam_roles=frozenset(r.strip().casefold() for r in params.admin_iam_roles),
        custom_roles=_custom_roles(inventory.iam_bindings),
    )
