"""Raw Chronicle API and IAM JSON -> inventory models: the parsers of the Google surfaces
(chronicle-api.md), the one place besides :mod:`auditor.soar.shapes` that knows raw field
names. Shapes that are inferred (a group member's fields, how a service account appears in one)
are read leniently and noted as drift; what the rules need and cannot get raises ShapeError."""

from __future__ import annotations

import json
import re
from typing import Any

from auditor.soar.errors import ShapeError
from auditor.soar.models import (
    Environment,
    IamBinding,
    IamCondition,
    IdpMapping,
    PermissionGroup,
    SoarUser,
    SocRole,
)
from auditor.soar.shapes import (
    _ALL_ENV_FIELD,
    DriftLog,
    _is_int,
    _kind,
    _list_of_dicts,
    _norm,
    _unique,
    _unknown_fields,
    parse_system_version,
    parse_time,
)

# -- the Chronicle API (chronicle-api.md) -------------------------------------------------------
_TRAILING_ID = re.compile(r"/(\d{1,18})$")
ENV_C_FIELDS = frozenset({"name", "displayName", "system", "description", "id"})
ROLE_C_FIELDS = frozenset({"name", "displayName", "defaultRole", "additionalRolesAccess",
                           "description", "id"})
MAPPING_FIELDS = frozenset({"name", "displayName", "groupMembers", "socRoleIds", "environments",
                            "permissionGroupIds", "defaultMapping", "externalProviderName",
                            "workforcePoolId", "platforms", "additionalPermissions"})
MEMBER_FIELDS = ("principal", "email", "name", "displayName")
USER_FIELDS = frozenset({"name", "email", "userType", "socRoles", "environmentsJson",
                         "hasAllEnvironmentsAccess", "permissionGroups", "accountState",
                         "lastLoginTime", "providerName", "firstName", "lastName", "displayName"})


def _text(endpoint: str, item: dict[str, Any], field: str, where: str,
          required: bool = True) -> str | None:
    value = item.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ShapeError(endpoint, f"{where}: {field} is {_kind(value)}, expected text")
    return value


def _texts(endpoint: str, item: dict[str, Any], field: str, where: str) -> tuple[str, ...]:
    value = item.get(field)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ShapeError(endpoint, f"{where}: {field} is not a list of texts")
    return tuple(value)


def _int_list(endpoint: str, item: dict[str, Any], field: str, where: str) -> tuple[int, ...]:
    value = item.get(field)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ShapeError(endpoint, f"{where}: {field} is {_kind(value)}, expected a list of ids")
    out: set[int] = set()
    for v in value:
        if _is_int(v):
            out.add(int(v))
        elif isinstance(v, str) and v.strip().isdigit():  # int64 fields may come as strings
            out.add(int(v.strip()))
        else:
            raise ShapeError(endpoint, f"{where}: {field} holds {_kind(v)}, expected ids")
    return tuple(sorted(out))


def trailing_id(resource_name: str) -> int | None:
    """The id a Chronicle resource name ends in (``.../socRoles/2`` -> 2)."""
    found = _TRAILING_ID.search(resource_name)
    return int(found.group(1)) if found else None


def parse_chronicle_version(data: Any, drift: DriftLog) -> str | None:
    if isinstance(data, dict) and "payload" in data:
        return parse_system_version(data["payload"], drift)
    return parse_system_version(data, drift)


def parse_chronicle_environments(items: Any, drift: DriftLog) -> list[Environment]:
    endpoint = "ListEnvironments"
    envs: list[Environment] = []
    seen: set[str] = set()
    for i, item in enumerate(_list_of_dicts(endpoint, items, "environments")):
        _unknown_fields(drift, endpoint, item, ENV_C_FIELDS)
        resource = _text(endpoint, item, "name", f"item {i}") or ""
        display = _text(endpoint, item, "displayName", f"environment {resource[-60:]}")
        if display is None or display in seen:
            continue
        seen.add(display)
        envs.append(Environment(name=display, id=trailing_id(resource)))
    return envs


def parse_chronicle_soc_roles(items: Any, drift: DriftLog) -> list[SocRole]:
    endpoint = "ListSocRoles"
    roles: list[SocRole] = []
    for i, item in enumerate(_list_of_dicts(endpoint, items, "SOC roles")):
        _unknown_fields(drift, endpoint, item, ROLE_C_FIELDS)
        resource = _text(endpoint, item, "name", f"item {i}") or ""
        role_id = trailing_id(resource)
        display = _text(endpoint, item, "displayName", f"role {resource[-60:]}") or ""
        if role_id is None:
            drift.note(endpoint, "name", "a role name that does not end in an id; the role "
                       "cannot be matched to mapping socRoleIds and is left out")
            continue
        roles.append(SocRole(id=role_id, name=display))
    _unique(endpoint, (r.id for r in roles), "SOC role id")
    return roles


def parse_chronicle_groups(items: Any, drift: DriftLog) -> list[PermissionGroup]:
    """``legacySoarPermissionGroups`` (item fields not published): an id at the end of the
    resource name, a display name, and an All Environments boolean where one is named so."""
    endpoint = "ListSoarPermissionGroups"
    groups: list[PermissionGroup] = []
    for i, item in enumerate(_list_of_dicts(endpoint, items, "permission groups")):
        resource = _text(endpoint, item, "name", f"item {i}") or ""
        group_id = trailing_id(resource)
        if group_id is None:
            drift.note(endpoint, "name", "a group name that does not end in an id; left out")
            continue
        display = item.get("displayName")
        state: bool | None = None
        source: str | None = None
        for name, value in item.items():
            if isinstance(value, bool) and _ALL_ENV_FIELD.match(_norm(name)):
                state, source = value, f"{endpoint}.{str(name)[:60]}"
                break
        groups.append(PermissionGroup(
            id=group_id, name=display if isinstance(display, str) else f"#{group_id}",
            all_environments=state, all_environments_source=source))
    _unique(endpoint, (g.id for g in groups), "permission group id")
    return groups


def _member(endpoint: str, value: Any, where: str, drift: DriftLog) -> str:
    """A group member: a text, or an object naming the identity in one of MEMBER_FIELDS."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, dict):
        for name in MEMBER_FIELDS:
            found = value.get(name)
            if isinstance(found, str) and found.strip():
                if name != MEMBER_FIELDS[0]:
                    drift.note(endpoint, f"groupMembers.{name}",
                               "member identity read from this field (shape inferred)")
                return found.strip()
    raise ShapeError(endpoint, f"{where}: a group member without an identity "
                     f"({_kind(value)}; expected text or an object with "
                     f"{', '.join(MEMBER_FIELDS)})")


def parse_mappings(items: Any, drift: DriftLog) -> list[IdpMapping]:
    endpoint = "ListIdpMappingGroups"
    mappings: list[IdpMapping] = []
    for i, item in enumerate(_list_of_dicts(endpoint, items, "Group Mapping entries")):
        _unknown_fields(drift, endpoint, item, MAPPING_FIELDS)
        resource = _text(endpoint, item, "name", f"item {i}") or ""
        where = f"mapping {resource[-80:]}"
        members_raw = item.get("groupMembers") or []
        if not isinstance(members_raw, list):
            raise ShapeError(endpoint, f"{where}: groupMembers is {_kind(members_raw)}, "
                             "expected a list")
        members = tuple(dict.fromkeys(_member(endpoint, m, where, drift) for m in members_raw))
        if "environments" not in item:
            raise ShapeError(endpoint, f"{where}: no environments (a required field)")
        default = item.get("defaultMapping", False)
        if not isinstance(default, bool):
            raise ShapeError(endpoint, f"{where}: defaultMapping is {_kind(default)}")
        display = item.get("displayName")
        mappings.append(IdpMapping(
            name=resource,
            display_name=display if isinstance(display, str) else resource.rsplit("/", 1)[-1],
            members=members,
            soc_role_ids=_int_list(endpoint, item, "socRoleIds", where),
            environments=_texts(endpoint, item, "environments", where),
            permission_group_ids=_int_list(endpoint, item, "permissionGroupIds", where),
            default_mapping=default,
            provider=_text(endpoint, item, "externalProviderName", where, required=False),
            workforce_pool=_text(endpoint, item, "workforcePoolId", where, required=False),
        ))
    _unique(endpoint, (m.name for m in mappings), "mapping")
    return mappings


def parse_users(items: Any, drift: DriftLog) -> list[SoarUser]:
    endpoint = "ListSoarUsers"
    users: list[SoarUser] = []
    for i, item in enumerate(_list_of_dicts(endpoint, items, "SOAR users")):
        _unknown_fields(drift, endpoint, item, USER_FIELDS)
        resource = _text(endpoint, item, "name", f"item {i}") or ""
        where = f"user {resource[-80:]}"
        envs: tuple[str, ...] = ()
        raw_envs = item.get("environmentsJson")
        if isinstance(raw_envs, str) and raw_envs.strip():
            try:
                decoded = json.loads(raw_envs)
            except ValueError:
                decoded = None
            if isinstance(decoded, list) and all(isinstance(e, str) for e in decoded):
                envs = tuple(decoded)
            else:
                drift.note(endpoint, "environmentsJson", "not a JSON array of names; ignored")
        has_all = item.get("hasAllEnvironmentsAccess")
        roles_raw = item.get("socRoles")
        roles = tuple(str(r) for r in roles_raw) if isinstance(roles_raw, list) else ()
        groups_raw = item.get("permissionGroups")
        groups = tuple(str(g) for g in groups_raw) if isinstance(groups_raw, list) else ()
        users.append(SoarUser(
            name=resource,
            email=_text(endpoint, item, "email", where, required=False),
            user_type=_text(endpoint, item, "userType", where, required=False),
            soc_roles=roles,
            environments=envs,
            has_all_environments=has_all if isinstance(has_all, bool) else None,
            permission_groups=groups,
            account_state=_text(endpoint, item, "accountState", where, required=False),
            last_login_at=parse_time(item.get("lastLoginTime")),
            provider=_text(endpoint, item, "providerName", where, required=False),
        ))
    return users


def parse_iam_policy(data: Any, drift: DriftLog) -> list[IamBinding]:
    """``getIamPolicy`` (policy version 3): bindings of role, members and condition."""
    endpoint = "GetIamPolicy"
    if not isinstance(data, dict):
        raise ShapeError(endpoint, f"expected a policy object, got {_kind(data)}")
    version = data.get("version")
    if _is_int(version) and version < 3 and any(
            isinstance(b, dict) and b.get("condition") for b in data.get("bindings") or []):
        drift.note(endpoint, "version", f"policy version {version} with conditions")
    bindings: list[IamBinding] = []
    for i, item in enumerate(_list_of_dicts(endpoint, data.get("bindings") or [], "bindings")):
        role = _text(endpoint, item, "role", f"binding {i}") or ""
        members = _texts(endpoint, item, "members", f"binding {i} ({role[:80]})")
        cond = item.get("condition")
        condition = None
        if cond is not None:
            if not isinstance(cond, dict) or not isinstance(cond.get("expression"), str):
                raise ShapeError(endpoint, f"binding {i} ({role[:80]}): condition without an "
                                 "expression")
            title, desc = cond.get("title"), cond.get("description")
            condition = IamCondition(cond["expression"],
                                     title if isinstance(title, str) else None,
                                     desc if isinstance(desc, str) else None)
        bindings.append(IamBinding(role=role, members=members, condition=condition))
    return bindings
