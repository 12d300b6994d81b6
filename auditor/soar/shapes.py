"""Raw SOAR JSON -> inventory models: the ONE place that knows the API's field names.

Facts the auditor needs and cannot get raise :class:`ShapeError` (the collection fails closed);
everything else that is unexpected but harmless (unknown fields, a status body with no boolean) is
recorded as a :class:`DriftNote`. The ``key`` field of API key records is dropped here and never
read into any model.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from auditor.soar.errors import ShapeError
from auditor.soar.models import (
    ApiKey,
    DriftNote,
    Environment,
    PermissionGroup,
    SocRole,
    ms_to_dt,
)
from auditor.textsafe import term_safe

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
    """Drift notes of one collection, one per (endpoint, field); ``now``: the audit's time (what
    a plausible time may not be later than)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now
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


EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)  # SOAR (Siemplify) keys are younger than this
LATEST_SKEW = timedelta(days=1)


def parse_time(value: Any) -> datetime | None:
    """Unix milliseconds (number or digits) or an ISO 8601 text -> aware UTC datetime; None for
    anything else, including values no datetime can hold (year 10000, 1e20, Infinity)."""
    try:
        return _parse_time(value)
    except (OverflowError, OSError, ValueError):
        return None


def checked_time(endpoint: str, field: str, value: Any, drift: DriftLog,
                 where: str) -> datetime | None:
    """A time the rules rely on: unreadable or implausible (before 2010, or more than a day
    after the audit: seconds sent as milliseconds, a clock gone wrong) is unknown, never a
    guess; the raw value is noted as drift."""
    if value is None:
        return None
    parsed = parse_time(value)
    raw = term_safe(repr(value))[:60]
    if parsed is None:
        drift.note(endpoint, field, f"unreadable time {raw} ({where}); read as unknown")
        return None
    late = drift.now is not None and parsed > drift.now + LATEST_SKEW
    if parsed < EARLIEST or late:
        why = "after the audit" if late else "before 2010 (seconds instead of milliseconds?)"
        drift.note(endpoint, field, f"implausible time {raw} = {parsed.date().isoformat()} "
                   f"({where}): {why}; read as unknown")
        return None
    return parsed


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
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
        created = checked_time(endpoint, "creationTimeUnixTimeInMs",
                               item.get("creationTimeUnixTimeInMs"), drift, where)
        if "creationTimeUnixTimeInMs" not in item or item["creationTimeUnixTimeInMs"] is None:
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
            modified_at=checked_time(endpoint, "modificationTimeUnixTimeInMs",
                                     item.get("modificationTimeUnixTimeInMs"), drift, where),
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
            created = created or checked_time(endpoint, name, item.get(name), drift,
                                              f"item {i}")
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
