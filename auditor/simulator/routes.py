"""What the simulator answers: routing of SOAR API paths, the documented response shapes, and the
replies of injected faults. Pure functions of (request, world); the server adds state and HTTP."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from auditor.simulator.spec import Fault, World

PREFIX = "/api/external/v1"
# (endpoint name, allowed method, path pattern after the prefix; group 1 = group id)
ROUTES: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (name, method, re.compile(pattern, re.IGNORECASE))
    for name, method, pattern in (
        ("GetSystemVersion", "GET", r"^/settings/getsystemversion$"),
        ("GetApiKeys", "GET", r"^/settings/getapikeys$"),
        ("GetEnvironments", "POST", r"^/settings/getenvironments$"),
        ("GetPermissionsGroupCards", "GET", r"^/permissions/getpermissionsgroupcards$"),
        ("GetAllEnvironmentStatus", "GET", r"^/permissions/getallenvironmentstatus/(-?\d+)$"),
        ("GetPermissionGroup", "GET", r"^/permissions/(-?\d+)$"),
        ("GetSocRoles", "GET", r"^/socroles/getsocroles$"),
    )
)
_ARRAY_ENDPOINTS = {"GetApiKeys", "GetPermissionsGroupCards", "GetSocRoles"}


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    disconnect: bool = False


def json_reply(status: int, value: Any, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(value, ensure_ascii=False).encode("utf-8")
    return Reply(status, body, headers=headers or {})


def error_reply(status: int, message: str | None = None,
                headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"ErrorMessage": message or HTTPStatus(status).phrase}, headers)


def route(method: str, path: str) -> tuple[str, int | None] | Reply:
    """(endpoint name, group id) of an API path, or the 404 / 405 reply."""
    if not path.lower().startswith(PREFIX):
        return error_reply(404, "Not found")
    rest = path[len(PREFIX):]
    found = next(((n, a, m) for n, a, p in ROUTES if (m := p.match(rest))), None)
    if found is None:
        return error_reply(404, "Not found")
    name, allowed, match = found
    if method != allowed:
        return error_reply(405, "Method Not Allowed", {"Allow": allowed})
    return name, (int(match.group(1)) if match.groups() else None)


def answer(name: str, group_id: int | None, world: World, body: bytes,
           max_page_size: int) -> Reply:
    """The documented answer of endpoint ``name`` (the request is authenticated)."""
    if name == "GetSystemVersion":
        return json_reply(200, world.system_version)
    if name == "GetApiKeys":
        return json_reply(200, list(world.api_keys))
    if name == "GetSocRoles":
        return json_reply(200, list(world.soc_roles))
    if name == "GetEnvironments":
        return environments(world, body, max_page_size)
    if name == "GetPermissionsGroupCards":
        cards = [{"id": g.id, "name": g.name, **g.card} for g in world.permission_groups]
        return json_reply(200, cards)
    group = next((g for g in world.permission_groups if g.id == group_id), None)
    if name == "GetPermissionGroup":
        if group is None:
            return error_reply(404, f"Permission group {group_id} was not found")
        if group.detail_http_status is not None:
            return error_reply(group.detail_http_status)
        return json_reply(200, {"id": group.id, "name": group.name, **group.detail})
    # GetAllEnvironmentStatus: 404 for an unknown group or one whose status the scenario omits.
    if group is None or not group.has_status:
        return error_reply(404, "Not found")
    return json_reply(200, group.status)


def environments(world: World, body: bytes, max_page_size: int) -> Reply:
    """POST GetEnvironments: ``{searchTerm, requestedPage, pageSize}`` -> one page and metadata.
    The page size is capped at the scenario's ``max_page_size``."""
    try:
        request = json.loads(body or b"{}")
        page = int(request.get("requestedPage", 0))
        size = int(request.get("pageSize", 100))
        term = str(request.get("searchTerm") or "").lower()
    except (ValueError, TypeError, AttributeError):
        return error_reply(400, "The request body is not a valid GetEnvironments request")
    if page < 0 or size < 1:
        return error_reply(400, "requestedPage must be >= 0 and pageSize >= 1")
    size = min(size, max_page_size)
    items = [e for e in world.environments if term in str(e.get("name", "")).lower()]
    return json_reply(200, {
        "objectsList": items[page * size:(page + 1) * size],
        "metadata": {"totalNumberOfPages": math.ceil(len(items) / size),
                     "totalNumberOfObjects": len(items), "pageSize": size,
                     "requestedPage": page},
    })


def fault_reply(fault: Fault, endpoint: str) -> Reply | None:
    """The reply a fault forces, or None when it only delays the normal answer."""
    if fault.disconnect:
        return Reply(0, disconnect=True)
    if fault.status is None and fault.body is None:
        return None
    status = fault.status or 200
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
    if fault.body == "malformed":
        return Reply(status, b'{"objectsList": [{"name": "Acme', headers=headers)
    if fault.body == "wrong_shape":
        value: Any = [{"unexpected": 1}]
        if endpoint in _ARRAY_ENDPOINTS:
            value = {"unexpected": "shape"}
        return json_reply(status, value, headers)
    if fault.body == "html":
        page = f"<html><body><h1>{status} {HTTPStatus(status).phrase}</h1></body></html>"
        return Reply(status, page.encode(), "text/html; charset=utf-8", headers)
    if fault.body == "empty":
        return Reply(status, b"", headers=headers)
    return error_reply(status, None, headers)
