"""What the simulator answers: routing of SOAR API paths, the documented response shapes, and the
replies of injected faults. Pure functions of (request, world); the server adds state and HTTP."""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from auditor.simulator.spec import ChronicleSpec, Fault, World
from auditor.soar import catalog
from auditor.soar.catalog import Dialect, Endpoint

_ARRAY_ENDPOINTS = frozenset(e.name for e in catalog.ENDPOINTS
                             if not e.lists or e.dialects[0].paging == "none")


@dataclass(frozen=True, slots=True)
class Call:
    """A routed request: the catalog endpoint and dialect, the item id, the path's names."""

    endpoint: Endpoint
    dialect: Dialect
    item: int | None
    params: dict[str, str]

    @property
    def name(self) -> str:
        return self.endpoint.name

    @property
    def google(self) -> bool:
        return self.endpoint.surface.errors == "google"


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    disconnect: bool = False


def json_reply(status: int, value: Any, headers: dict[str, str] | None = None) -> Reply:
    body = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return Reply(status, body, headers=headers or {})


def error_reply(status: int, message: str | None = None,
                headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"ErrorMessage": message or HTTPStatus(status).phrase}, headers)


def google_error(status: int, message: str | None = None, permission: str | None = None,
                 headers: dict[str, str] | None = None) -> Reply:
    """Google's JSON error envelope (a 403 names the permission, as Google's APIs do)."""
    phrase = HTTPStatus(status).phrase
    codes = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
             404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
    error: dict[str, Any] = {"code": status, "message": message or phrase,
                             "status": codes.get(status, "UNKNOWN")}
    if status == 403 and permission:
        error["message"] = f"Permission '{permission}' denied on resource (or it may not exist)."
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                             "reason": "IAM_PERMISSION_DENIED",
                             "metadata": {"permission": permission}}]
    return json_reply(status, {"error": error}, headers)


def route(method: str, path: str, surfaces: frozenset[str],
          dialects: dict[str, frozenset[str]], chronicle: ChronicleSpec | None) -> Call | Reply:
    """The catalog call of an API path, or the 404 / 405 reply. Paths are case-insensitive;
    a surface the scenario does not serve, or another project/instance, is 404."""
    matches = [r for r in catalog.ROUTES if r.endpoint.surface.name in surfaces
               and r.pattern.match(path)]
    if not matches:
        return error_reply(404, "Not found")
    google = matches[0].endpoint.surface.errors == "google"
    allowed = [r for r in matches
               if r.dialect.name in dialects.get(r.endpoint.name, frozenset({r.dialect.name}))]
    chosen = next((r for r in allowed if r.dialect.method == method), None)
    if chosen is None:
        methods = ", ".join(sorted({r.dialect.method for r in allowed})) or "none"
        if google:
            return google_error(404 if not allowed else 405, "Method not found")
        return error_reply(405, "Method Not Allowed", {"Allow": methods})
    found = chosen.pattern.match(path)
    assert found is not None
    params = {k: v for k, v in found.groupdict().items() if k != "id" and v is not None}
    if chronicle is not None:
        for name, value in params.items():
            if getattr(chronicle, name, value).lower() != value.lower():
                return google_error(404, f"{name} {value} not found")
    item = found.group("id") if "id" in found.groupdict() else None
    return Call(chosen.endpoint, chosen.dialect, int(item) if item is not None else None,
                params)


def _params(chronicle: ChronicleSpec | None) -> dict[str, str]:
    c = chronicle or ChronicleSpec()
    return {"project": c.project, "location": c.location, "instance": c.instance}


def items_of(name: str, world: World, chronicle: ChronicleSpec | None) -> list[Any] | None:
    """The records a list endpoint serves (None: not a list endpoint). The Chronicle surface
    serves the same environments, roles and groups as the legacy one, in its own shape."""
    params = _params(chronicle)

    def rname(item: Any) -> str:
        return catalog.resource_name(name, params, item)

    if name == "GetApiKeys":
        return list(world.api_keys)
    if name == "GetEnvironments":
        return list(world.environments)
    if name == "GetSocRoles":
        return list(world.soc_roles)
    if name == "GetPermissionsGroupCards":
        return [{"id": g.id, "name": g.name, **g.card} for g in world.permission_groups]
    if name == "ListEnvironments":
        return [{"name": rname(e.get("id", i + 1)),
                 "displayName": e["name"], "system": False,
                 **({"description": e["description"]} if "description" in e else {})}
                for i, e in enumerate(world.environments)]
    if name == "ListSocRoles":
        return [{"name": rname(r["id"]), "displayName": r.get("name", ""),
                 "defaultRole": bool(r.get("isDefault", False))} for r in world.soc_roles]
    if name == "ListSoarPermissionGroups":
        return [{"name": rname(g.id), "displayName": g.name}
                for g in world.permission_groups]
    if name == "ListIdpMappingGroups":
        return list(world.idp_mappings)
    if name == "ListSoarUsers":
        return list(world.users)
    return None


def answer(call: Call, world: World, body: bytes, query: dict[str, str], max_page_size: int,
           chronicle: ChronicleSpec | None = None) -> Reply:
    """The documented answer of one call (the request is authenticated)."""
    name, group_id = call.name, call.item
    items = items_of(name, world, chronicle)
    if items is not None:
        paging = call.dialect.paging
        if paging == "pages":
            return numbered_page(name, items, body, max_page_size)
        if paging == "tokens":
            limit = chronicle.max_page_size if chronicle else 1000
            return token_page(call.endpoint.collection or "items", items, query, limit)
        return json_reply(200, items)
    if name == "GetSystemVersion":
        return json_reply(200, world.system_version)
    if name == "LegacyGetSystemVersion":
        return json_reply(200, {"payload": world.system_version})
    if name == "GetIamPolicy":
        return json_reply(200, {"version": 3, "etag": "BwYsimulated=",
                                "bindings": list(world.iam_bindings)})
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


def numbered_page(name: str, items: list[Any], body: bytes, max_page_size: int) -> Reply:
    """SOAR's paged POST: ``{searchTerm, requestedPage, pageSize}`` -> one page and metadata.
    The page size is capped at the scenario's ``max_page_size``."""
    try:
        request = json.loads(body or b"{}")
        page = int(request.get("requestedPage", 0))
        size = int(request.get("pageSize", 100))
        term = str(request.get("searchTerm") or "").lower()
    except (ValueError, TypeError, AttributeError):
        return error_reply(400, f"The request body is not a valid {name} request")
    if page < 0 or size < 1:
        return error_reply(400, "requestedPage must be >= 0 and pageSize >= 1")
    size = min(size, max_page_size)
    found = [e for e in items if term in str(e.get("name", "")).lower()]
    return json_reply(200, {
        "objectsList": found[page * size:(page + 1) * size],
        "metadata": {"totalNumberOfPages": math.ceil(len(found) / size),
                     "totalNumberOfObjects": len(found), "pageSize": size,
                     "requestedPage": page},
    })


def token_page(collection: str, items: list[Any], query: dict[str, str], limit: int) -> Reply:
    """Google's list paging: ``pageSize`` (default 50, capped) and an opaque ``pageToken``;
    ``nextPageToken`` on every page but the last."""
    try:
        size = int(query.get("pageSize") or 50)
        token = query.get("pageToken") or ""
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
    except (ValueError, TypeError, UnicodeDecodeError):
        return google_error(400, "Invalid page token or page size")
    size = max(1, min(size, limit, 1000))
    chunk = items[start:start + size]
    out: dict[str, Any] = {collection: chunk} if chunk else {}
    if start + size < len(items):
        out["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return json_reply(200, out)


def fault_reply(fault: Fault, endpoint: str, call: Call | None = None) -> Reply | None:
    """The reply a fault forces, or None when it only delays the normal answer."""
    if fault.disconnect:
        return Reply(0, disconnect=True)
    if fault.raw is not None:
        return Reply(fault.status or 200, fault.raw.encode("utf-8", "surrogatepass"))
    if "reply" in fault.model_fields_set:
        return json_reply(fault.status or 200, fault.reply)
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
    if call is not None and call.google:
        return google_error(status, None, call.endpoint.permission, headers)
    return error_reply(status, None, headers)
