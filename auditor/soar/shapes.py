"""Raw SOAR JSON -> inventory models: the ONE place that knows the API's field names.

Facts the auditor needs and cannot get raise :class:`ShapeError` (the collection fails closed);
everything else that is unexpected but harmless (unknown fields, a status body with no boolean) is
recorded as a :class:`DriftNote`. The ``key`` field of API key records is dropped here and never
read into any model.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeGuard

from auditor.soar.errors import ShapeError
from auditor.soar.models import (
    ApiKey,
    DriftNote,
    Environment,
    IamBinding,
    IamCondition,
    IdpMapping,
    PermissionGroup,
    SoarUser,
    SocRole,
    ms_to_dt,
)

# Fields the auditor knows per record kind; other fields are noted as drift and ignored.
KEY_FIELDS = frozenset({
    "id", "name", "key", "isSystem", "permissionGroupId", "permissionGroupIds", "socRoleId",
    "socRoleIds", "environments", "creationTimeUnixTimeInMs", "modificationTimeUnixTimeInMs",
})
ENV_FIELDS = frozenset({"id", "name", "description", "creationTimeUnixTimeInMs", "creationTime",
                        "createTime"})
ENV_TIME_FIELDS = ("creationTimeUnixTimeInMs", "creationTime", "createTime")
_ALL_ENV_FIELD = re.compile(r"^(is|has)?allenvironments?(access|enabled)?$")
_LEVEL_KEYS = ("permissionlevel", "level", "accesslevel", "permission", "access")


class DriftLog:
    """Drift notes of one collection, one per (endpoint, field)."""

    def __init__(self) -> None:
        self._notes: dict[tuple[str, str], DriftNote] = {}
        self._lock = threading.Lock()

    def note(self, endpoint: str, field: str, detail: str) -> None:
        with self._lock:
            self._notes.setdefault((endpoint, field), DriftNote(endpoint, field, detail))

    @property
    def notes(self) -> tuple[DriftNote, ...]:
        """Sorted by (endpoint, field): calls run concurrently, the order they noted in is not
        meaningful, and a stable order keeps inventories comparable from run to run."""
        with self._lock:
            return tuple(self._notes[k] for k in sorted(self._notes))


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _list_of_dicts(endpoint: str, data: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise ShapeError(endpoint, f"expected a JSON array of {what}, got {_kind(data)}")
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ShapeError(endpoint, f"item {i}: expected an object, got {_kind(item)}")
    return data


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _unknown_fields(drift: DriftLog, endpoint: str, item: dict[str, Any],
                    known: frozenset[str]) -> None:
    for name in item:
        if name not in known:
            drift.note(endpoint, str(name)[:80], "unknown field, ignored")


def _id_of(endpoint: str, item: dict[str, Any], index: int, what: str) -> int:
    value = item.get("id")
    if not _is_int(value):
        raise ShapeError(endpoint, f"item {index}: {what} without an integer id")
    return int(value)


def _name_of(endpoint: str, item: dict[str, Any], where: str) -> str:
    value = item.get("name")
    if not isinstance(value, str):
        raise ShapeError(endpoint, f"{where}: name is {_kind(value)}, expected text")
    return value


def parse_time(value: Any) -> datetime | None:
    """Unix milliseconds (number or digits) or an ISO 8601 text -> aware UTC datetime."""
    if _is_int(value) or isinstance(value, float):
        return ms_to_dt(value) if value > 0 else None
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdigit():
            return ms_to_dt(int(text))
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


# -- GetApiKeys ----------------------------------------------------------------------------------
def _ids(endpoint: str, where: str, single: Any, plural: Any, names: tuple[str, str]) -> tuple[
    int, ...
]:
    found: set[int] = set()
    if single is not None:
        if not _is_int(single):
            raise ShapeError(endpoint, f"{where}: {names[0]} is {_kind(single)}, expected an id")
        found.add(int(single))
    if plural is not None:
        if not isinstance(plural, list) or not all(_is_int(v) for v in plural):
            raise ShapeError(endpoint, f"{where}: {names[1]} is not a list of ids")
        found.update(int(v) for v in plural)
    return tuple(sorted(found))


def parse_api_keys(data: Any, drift: DriftLog) -> list[ApiKey]:
    endpoint = "GetApiKeys"
    keys: list[ApiKey] = []
    for i, item in enumerate(_list_of_dicts(endpoint, data, "API key records")):
        key_id = _id_of(endpoint, item, i, "an API key")
        where = f"key id {key_id}"
        _unknown_fields(drift, endpoint, item, KEY_FIELDS)
        envs = item.get("environments")
        if isinstance(envs, str):
            drift.note(endpoint, "environments", "a text instead of a list; read as one name")
            envs = [envs]
        if not isinstance(envs, list) or not all(isinstance(e, str) for e in envs):
            raise ShapeError(endpoint, f"{where}: environments is {_kind(envs)}, "
                             "expected a list of environment names")
        is_system = item.get("isSystem", False)
        if "isSystem" not in item:
            drift.note(endpoint, "isSystem", "absent; keys treated as not system keys")
        elif not isinstance(is_system, bool):
            raise ShapeError(endpoint, f"{where}: isSystem is {_kind(is_system)}, "
                             "expected a boolean")
        created = parse_time(item.get("creationTimeUnixTimeInMs"))
        if created is None:
            drift.note(endpoint, "creationTimeUnixTimeInMs",
                       "absent or unreadable on some keys; their age is unknown")
        keys.append(ApiKey(
            id=key_id,
            name=_name_of(endpoint, item, where),
            is_system=is_system,
            group_ids=_ids(endpoint, where, item.get("permissionGroupId"),
                           item.get("permissionGroupIds"),
                           ("permissionGroupId", "permissionGroupIds")),
            role_ids=_ids(endpoint, where, item.get("socRoleId"), item.get("socRoleIds"),
                          ("socRoleId", "socRoleIds")),
            environments=tuple(envs),
            created_at=created,
            modified_at=parse_time(item.get("modificationTimeUnixTimeInMs")),
        ))
    _unique(endpoint, (k.id for k in keys), "API key id")
    return keys


def _unique(endpoint: str, ids: Iterable[Any], what: str) -> None:
    seen: set[Any] = set()
    for value in ids:
        if value in seen:
            raise ShapeError(endpoint, f"{what} {value!r} is listed twice")
        seen.add(value)


# -- paging envelopes ----------------------------------------------------------------------------
def identity(data: Any, drift: DriftLog) -> Any:
    """The body as it is (calls whose body is read by a later step, e.g. a group's detail)."""
    return data


def page_items(endpoint: str, data: Any, collection: str | None,
               drift: DriftLog) -> tuple[list[Any], int | None, str | None]:
    """One page of a list call -> (items, total pages, next page token), whatever the envelope:
    a bare array (one page); SOAR's ``{"objectsList": [...], "metadata":
    {"totalNumberOfPages": N}}``; Google's ``{"<collection>": [...], "nextPageToken": "..."}``
    (an empty page may leave the collection out)."""
    if isinstance(data, list):
        return data, 1, None
    if not isinstance(data, dict):
        raise ShapeError(endpoint, f"expected an array or an object holding one, got "
                         f"{_kind(data)}")
    if "objectsList" in data:
        items = data["objectsList"]
        if not isinstance(items, list):
            raise ShapeError(endpoint, f"objectsList is {_kind(items)}, expected an array")
        meta = data.get("metadata")
        total = meta.get("totalNumberOfPages") if isinstance(meta, dict) else None
        if not _is_int(total):
            drift.note(endpoint, "metadata.totalNumberOfPages", "absent; read as one page")
            total = 1
        return items, max(int(total), 0), None
    if collection is not None and (collection in data or not data or "nextPageToken" in data):
        items = data.get(collection, [])
        if not isinstance(items, list):
            raise ShapeError(endpoint, f"{collection} is {_kind(items)}, expected an array")
        token = data.get("nextPageToken")
        if token is not None and not isinstance(token, str):
            raise ShapeError(endpoint, f"nextPageToken is {_kind(token)}, expected text")
        return items, None, token or None
    expected = f"{collection} or objectsList" if collection else "objectsList"
    raise ShapeError(endpoint, f"the response has no {expected}")


# -- GetEnvironments -----------------------------------------------------------------------------
def parse_environments(items: Any, drift: DriftLog) -> list[Environment]:
    """The environments of every page (an environment listed twice is kept once)."""
    endpoint = "GetEnvironments"
    envs: list[Environment] = []
    seen: set[str] = set()
    for i, item in enumerate(_list_of_dicts(endpoint, items, "environments")):
        _unknown_fields(drift, endpoint, item, ENV_FIELDS)
        env_id = item.get("id")
        created = None
        for name in ENV_TIME_FIELDS:
            created = created or parse_time(item.get(name))
        env = Environment(
            name=_name_of(endpoint, item, f"item {i}"),
            id=int(env_id) if _is_int(env_id) else None,
            created_at=created,
        )
        if env.name in seen:
            drift.note(endpoint, "objectsList",
                       "an environment listed twice (the list changed while paging?)")
            continue
        seen.add(env.name)
        envs.append(env)
    return envs


# -- permission groups ---------------------------------------------------------------------------
def parse_group_cards(data: Any, drift: DriftLog) -> list[tuple[int, str]]:
    endpoint = "GetPermissionsGroupCards"
    cards = []
    for i, item in enumerate(_list_of_dicts(endpoint, data, "permission group cards")):
        group_id = _id_of(endpoint, item, i, "a permission group")
        cards.append((group_id, _name_of(endpoint, item, f"group id {group_id}")))
    _unique(endpoint, (c[0] for c in cards), "permission group id")
    return cards


NOT_AVAILABLE: Any = object()  # the call answered 404: no information


def decide_all_environments(
    group_id: int, status: Any, detail: Any, drift: DriftLog
) -> tuple[bool | None, str | None]:
    """A group's All Environments state and where it came from, in the order of soar-api.md:
    GetAllEnvironmentStatus (a boolean, or the first boolean field of an object); a boolean field
    of the detail named like ``allEnvironments``; a detail ``environments`` list holding "*"; an
    "All Environments" permission level other than "None". (None, None) when nothing answers."""
    if isinstance(status, bool):
        return status, "GetAllEnvironmentStatus"
    if isinstance(status, dict):
        for name, value in status.items():
            if isinstance(value, bool):
                return value, f"GetAllEnvironmentStatus.{str(name)[:60]}"
        drift.note("GetAllEnvironmentStatus", "(object)", "an object with no boolean field")
    elif status is not NOT_AVAILABLE and status is not None:
        drift.note("GetAllEnvironmentStatus", "(response)",
                   f"{_kind(status)}, expected a boolean or an object holding one")
    if isinstance(detail, dict):
        for name, value in detail.items():
            if isinstance(value, bool) and _ALL_ENV_FIELD.match(_norm(name)):
                return value, f"detail.{str(name)[:60]}"
        envs = detail.get("environments")
        if isinstance(envs, list) and "*" in envs:
            return True, "detail.environments"
        level = _all_env_level(detail, depth=0)
        if level is not None:
            return level.casefold() not in ("none", "0", ""), "detail.permissions"
    elif detail is not NOT_AVAILABLE and detail is not None:
        drift.note("GetPermissionGroup", "(response)", f"{_kind(detail)}, expected an object")
    drift.note("GetPermissionGroup", f"group {group_id}",
               "All Environments state not found in any source; rules that need it say unknown")
    return None, None


def _norm(name: Any) -> str:
    return re.sub(r"[^a-z]", "", str(name).lower())


def _all_env_level(node: Any, depth: int) -> str | None:
    """The permission level of "All Environments" in a detail, wherever it is nested."""
    if depth > 4:
        return None
    if isinstance(node, dict):
        for name, value in node.items():  # {"All Environments": "Edit"}
            if _norm(name) == "allenvironments" and isinstance(value, str | int):
                return str(value)
        if any(isinstance(v, str) and _norm(v) == "allenvironments" for v in node.values()):
            for name, value in node.items():  # {"module": "All Environments", "level": "Edit"}
                if _norm(name) in _LEVEL_KEYS and isinstance(value, str | int):
                    return str(value)
        children: Iterable[Any] = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        if isinstance(child, dict | list):
            found = _all_env_level(child, depth + 1)
            if found is not None:
                return found
    return None


def build_group(group_id: int, name: str, status: Any, detail: Any,
                drift: DriftLog) -> PermissionGroup:
    state, source = decide_all_environments(group_id, status, detail, drift)
    return PermissionGroup(id=group_id, name=name, all_environments=state,
                           all_environments_source=source)


# -- SOC roles and version -----------------------------------------------------------------------
ROLE_FIELDS = frozenset({"id", "name", "isDefault", "description", "isSystem"})


def parse_soc_roles(data: Any, drift: DriftLog) -> list[SocRole]:
    """The roles of every page, from either dialect (the items have the same fields)."""
    endpoint = "GetSocRoles"
    roles = []
    for i, item in enumerate(_list_of_dicts(endpoint, data, "SOC roles")):
        role_id = _id_of(endpoint, item, i, "a SOC role")
        roles.append(SocRole(id=role_id, name=_name_of(endpoint, item, f"role id {role_id}")))
    _unique("GetSocRoles", (r.id for r in roles), "SOC role id")
    return roles


def parse_system_version(data: Any, drift: DriftLog) -> str | None:
    if isinstance(data, str | int | float) and not isinstance(data, bool):
        return str(data)[:100]
    if isinstance(data, dict):
        for name, value in data.items():
            if "version" in str(name).lower() and isinstance(value, str | int | float):
                return str(value)[:100]
    drift.note("GetSystemVersion", "(response)", f"{_kind(data)} without a version")
    return None


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
                import json

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
