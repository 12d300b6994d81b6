"""The endpoint catalog: every API call the auditor makes, as data, and nothing else.

This module and its parsers (:mod:`auditor.soar.shapes`) are the only places that spell an API
path or a raw field name. A :class:`Surface` is where calls go (the legacy SOAR API, the Chronicle
API, Cloud Resource Manager for IAM): its path prefix, and how its errors look. An
:class:`Endpoint` is one call: its name (what error lines, faults and drift notes say), its
surface, its dialects (method + path + paging, tried in order: the next one when a server answers
404 or 405), whether the tenant fails without it, what it fans out over, and its parser.

The client (:mod:`auditor.soar.client`) builds requests from a dialect, the collector
(:mod:`auditor.soar.collect`) runs the catalog of a tenant's surfaces, the simulator routes and
pages from it, capture and doctor walk it. A new endpoint is one entry here, one parser in
``shapes`` and one model in ``models``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from auditor.soar import shapes, shapes_chronicle
from auditor.soar.models import Surface as SurfaceName

Method = Literal["GET", "POST"]
# none: one answer; pages: numbered pages in a POST body (SOAR's requestedPage / pageSize and
# metadata.totalNumberOfPages); tokens: pageSize / pageToken query and nextPageToken (Google).
Paging = Literal["none", "pages", "tokens"]
ErrorStyle = Literal["soar", "google"]


@dataclass(frozen=True, slots=True)
class Surface:
    name: SurfaceName
    # Path prefix of every call; may name {version} (of the dialect) and the tenant's
    # {project}, {location}, {instance}.
    prefix: str
    errors: ErrorStyle
    auth: Literal["appkey", "bearer"]  # appkey: AppKey or a Bearer token; bearer: Google only
    title: str


LEGACY = Surface("legacy", "/api/external/v1", "soar", "appkey", "the legacy SOAR API")
CHRONICLE = Surface(
    "chronicle", "/{version}/projects/{project}/locations/{location}/instances/{instance}",
    "google", "bearer", "the Chronicle API")
IAM = Surface("iam", "/v3/projects/{project}", "google", "bearer",
              "Cloud Resource Manager (the SecOps project's IAM policy)")
SURFACES: Mapping[SurfaceName, Surface] = MappingProxyType(
    {s.name: s for s in (LEGACY, CHRONICLE, IAM)})


@dataclass(frozen=True, slots=True)
class Dialect:
    """One way of making a call. ``path`` follows the surface prefix and may hold ``{id}`` (the
    item of a fan-out call); ``body`` is the POST body (paging fields are added by the client);
    ``version`` fills the prefix's ``{version}``."""

    name: str
    method: Method
    path: str
    paging: Paging = "none"
    body: Mapping[str, Any] | None = None
    version: str = ""

    def describe(self) -> str:
        """``POST socroles/getSocRoles``: how error lines and doctor name the dialect."""
        version = f"{self.version}/" if self.version else ""
        return f"{self.method} {version}{self.path.lstrip('/')}"


Parser = Callable[[Any, shapes.DriftLog], Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    surface: Surface
    dialects: tuple[Dialect, ...]
    parse: Parser  # list endpoints: the items of every page, in order; else the body
    required: bool = True  # a failure fails the tenant (else: noted as drift, data absent)
    per: str | None = None  # fan out: once per id that endpoint ``per`` lists
    absent_ok: frozenset[int] = frozenset()  # answers that mean "no information" (per item)
    collection: str | None = None  # tokens paging: the field that holds the items
    permission: str | None = None  # what the Google surfaces check (named in a 403 line)
    # Not called when the tenant also has this endpoint of another surface (the legacy API is
    # the source of keys' environments and roles while both are read).
    unless: str | None = None
    fallback_on: frozenset[int] = frozenset({404, 405})
    into: str | None = None  # the Inventory field its parsed value fills
    doc: str = ""

    @property
    def lists(self) -> bool:
        return self.dialects[0].paging != "none" or self.collection is not None


_SOAR_PAGE = MappingProxyType({"searchTerm": ""})


def _legacy(name: str, method: Method, path: str, parse: Parser, **kw: Any) -> Endpoint:
    paging: Paging = kw.pop("paging", "none")
    body = _SOAR_PAGE if paging == "pages" else None
    return Endpoint(name, LEGACY, (Dialect(method.lower(), method, path, paging, body),),
                    parse, **kw)


def _chronicle(name: str, resource: str, parse: Parser, *, versions: tuple[str, ...],
               collection: str | None, permission: str, **kw: Any) -> Endpoint:
    paging: Paging = "tokens" if collection else "none"
    dialects = tuple(Dialect(v, "GET", f"/{resource}", paging, None, v) for v in versions)
    return Endpoint(name, CHRONICLE, dialects, parse, collection=collection,
                    permission=permission, **kw)


ENDPOINTS: tuple[Endpoint, ...] = (
    # -- the legacy SOAR API (soar-api.md) ------------------------------------------------------
    _legacy("GetSystemVersion", "GET", "/settings/GetSystemVersion", shapes.parse_system_version,
            required=False, into="system_version", doc="connectivity and version"),
    _legacy("GetApiKeys", "GET", "/settings/GetApiKeys", shapes.parse_api_keys,
            into="api_keys", doc="every API key (bare array)"),
    _legacy("GetEnvironments", "POST", "/settings/GetEnvironments", shapes.parse_environments,
            paging="pages", into="environments", doc="environments, numbered pages"),
    _legacy("GetPermissionsGroupCards", "GET", "/permissions/GetPermissionsGroupCards",
            shapes.parse_group_cards, into="permission_groups", doc="permission groups (cards)"),
    _legacy("GetPermissionGroup", "GET", "/permissions/{id}", shapes.identity,
            per="GetPermissionsGroupCards", absent_ok=frozenset({404}),
            doc="one permission group's detail"),
    _legacy("GetAllEnvironmentStatus", "GET", "/permissions/GetAllEnvironmentStatus/{id}",
            shapes.identity, per="GetPermissionsGroupCards", absent_ok=frozenset({404}),
            doc="one group's All Environments state"),
    Endpoint(
        "GetSocRoles", LEGACY,
        (Dialect("post", "POST", "/socroles/getSocRoles", "pages", _SOAR_PAGE),
         Dialect("get", "GET", "/socroles/GetSocRoles")),
        shapes.parse_soc_roles, into="soc_roles",
        doc="SOC roles: Google's own paged POST first, the bare-array GET when it answers "
        "404/405"),
    # -- the Chronicle API (chronicle-api.md) ---------------------------------------------------
    _chronicle("LegacyGetSystemVersion", "legacySystem:legacyGetSystemVersion",
               shapes_chronicle.parse_chronicle_version, versions=("v1alpha",), collection=None,
               permission="chronicle.legacySystem.legacyGetSystemVersion", required=False,
               unless="GetSystemVersion", into="system_version", doc="connectivity and version"),
    _chronicle("ListEnvironments", "environments", shapes_chronicle.parse_chronicle_environments,
               versions=("v1", "v1beta", "v1alpha"), collection="environments",
               permission="chronicle.environments.list", unless="GetEnvironments",
               into="environments", doc="environments"),
    _chronicle("ListSocRoles", "socRoles", shapes_chronicle.parse_chronicle_soc_roles,
               versions=("v1", "v1beta", "v1alpha"), collection="socRoles",
               permission="chronicle.socRoles.list", unless="GetSocRoles", into="soc_roles",
               doc="SOC roles"),
    _chronicle("ListIdpMappingGroups", "legacySoarIdpMappingGroups",
               shapes_chronicle.parse_mappings, versions=("v1alpha",),
               collection="legacySoarIdpMappingGroups",
               permission="chronicle.legacySoarIdpMappingGroups.list",
               into="mappings", doc="Group Mapping entries"),
    _chronicle("ListSoarUsers", "legacySoarUsers", shapes_chronicle.parse_users,
               versions=("v1alpha",), collection="legacySoarUsers",
               permission="chronicle.legacySoarUsers.list", into="users", doc="SOAR users"),
    _chronicle("ListSoarPermissionGroups", "legacySoarPermissionGroups",
               shapes_chronicle.parse_chronicle_groups, versions=("v1alpha",),
               collection="legacySoarPermissionGroups", required=False,
               permission="chronicle.legacySoarPermissionGroups.list",
               unless="GetPermissionsGroupCards",
               into="permission_groups", doc="permission groups, where they still answer"),
    # -- IAM on the SecOps project (Cloud Resource Manager v3) ----------------------------------
    Endpoint("GetIamPolicy", IAM,
             (Dialect("v3", "POST", ":getIamPolicy", "none",
                      MappingProxyType({"options": {"requestedPolicyVersion": 3}})),),
             shapes_chronicle.parse_iam_policy, permission="resourcemanager.projects.getIamPolicy",
             into="iam_bindings",
             doc="the project's IAM policy (version 3, conditions kept)"),
)
BY_NAME: Mapping[str, Endpoint] = MappingProxyType({e.name: e for e in ENDPOINTS})
NAMES: tuple[str, ...] = tuple(BY_NAME)
_BY_LOWER = {name.lower(): name for name in NAMES}


def endpoint(name: str) -> Endpoint:
    return BY_NAME[name]


def canonical_name(name: str) -> str | None:
    """The catalog's spelling of an endpoint name given in any case (None: unknown)."""
    return _BY_LOWER.get(name.lower())


def of_surface(surface: SurfaceName) -> tuple[Endpoint, ...]:
    return tuple(e for e in ENDPOINTS if e.surface.name == surface)


def plan(surfaces: tuple[SurfaceName, ...]) -> tuple[Endpoint, ...]:
    """The endpoints a tenant read over ``surfaces`` calls (fan-out calls included)."""
    names = {e.name for e in ENDPOINTS if e.surface.name in surfaces}
    return tuple(e for e in ENDPOINTS
                 if e.name in names and (e.unless is None or e.unless not in names))


@dataclass(frozen=True, slots=True)
class Route:
    """A compiled path of a dialect, for servers (the simulator) that answer the catalog."""

    endpoint: Endpoint
    dialect: Dialect
    pattern: re.Pattern[str] = field(compare=False)


def _pattern(surface: Surface, dialect: Dialect) -> re.Pattern[str]:
    text = re.escape(surface.prefix.replace("{version}", dialect.version) + dialect.path)
    text = text.replace(re.escape("{id}"), r"(?P<id>-?\d+)")
    for name in ("project", "location", "instance"):
        text = text.replace(re.escape("{" + name + "}"), rf"(?P<{name}>[^/:]+)")
    return re.compile(f"^{text}$", re.IGNORECASE)


ROUTES: tuple[Route, ...] = tuple(
    Route(e, d, _pattern(e.surface, d)) for e in ENDPOINTS for d in e.dialects)


def path_for(ep: Endpoint, dialect: Dialect, params: Mapping[str, str],
             item: int | None = None) -> str:
    """The request path of one call (``params``: the tenant's project, location, instance)."""
    prefix = ep.surface.prefix.format(version=dialect.version, **params) \
        if "{" in ep.surface.prefix else ep.surface.prefix
    path = dialect.path.replace("{id}", str(int(item))) if item is not None else dialect.path
    return prefix + path


def resource_name(name: str, params: Mapping[str, str], item: int | str) -> str:
    """The resource name of one item of a Chronicle list (``projects/p/locations/l/instances/
    i/socRoles/2``), as the Chronicle API names its records."""
    ep = BY_NAME[name]
    parent = ep.surface.prefix.format(version="", **params).lstrip("/")
    return f"{parent}{ep.dialects[0].path}/{item}"
