"""The collect stage: every tenant of the configuration -> a TenantCollection (inventory or error).

Tenants are collected concurrently; inside a tenant the independent calls run concurrently on a
pool of ``max_connections`` (GetApiKeys, GetSocRoles, GetSystemVersion, the first environment page
and the group cards at once; then the other environment pages and, per group, its detail and its
GetAllEnvironmentStatus). A failure of any required call fails the tenant closed with one line:
``<endpoint>: <reason>``. Not required: GetSystemVersion (any failure) and a group's detail or
status answering 404 (the group's state then comes from the other source, or is unknown).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from auditor.config import TenantConfig
from auditor.soar import shapes
from auditor.soar.client import (
    AppKeyAuth,
    AuthProvider,
    RetryPolicy,
    SoarClient,
    SoarError,
)
from auditor.soar.models import Environment, Inventory, PermissionGroup, TenantCollection

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]
DEFAULT_PAGE_SIZE = 100
# Which error a tenant reports when several calls failed (e.g. all of them with 401).
_PRIORITY = ("GetApiKeys", "GetEnvironments", "GetPermissionsGroupCards", "GetSocRoles",
             "GetPermissionGroup", "GetAllEnvironmentStatus", "GetSystemVersion")


def auth_provider_for(tenant: TenantConfig) -> AuthProvider:
    """The credential of a tenant: its AppKey, or (``auth: google``, migrated instances) a
    Google bearer token from :func:`auditor.soar.auth.google_provider`."""
    if tenant.auth == "appkey":
        if tenant.api_key is None:
            raise ValueError(f"tenant {tenant.name}: no api_key")
        return AppKeyAuth(tenant.api_key)
    from auditor.soar.auth import google_provider

    return google_provider(tenant)


def client_for(tenant: TenantConfig, retry: RetryPolicy | None = None) -> SoarClient:
    return SoarClient(
        tenant.url,
        auth_provider_for(tenant),
        ca_bundle=tenant.ca_bundle,
        timeout=tenant.timeout_seconds,
        max_connections=tenant.max_connections,
        retry=retry,
    )


def collect_tenant(
    tenant_cfg: TenantConfig,
    now: datetime,
    *,
    retry: RetryPolicy | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> TenantCollection:
    """Collect one tenant; never raises for a tenant problem (the error is in the result)."""
    return collect_tenant_raw(tenant_cfg, now, retry=retry, page_size=page_size)[0]


@dataclass(frozen=True, slots=True)
class RawResponses:
    """The parsed JSON bodies of one collection, by (endpoint, argument): the environment page
    number, the group id, else 0. ``unavailable``: optional calls that answered an error (its
    HTTP status, None without one) and are absent from ``bodies``."""

    bodies: dict[tuple[str, int], Any]
    unavailable: dict[tuple[str, int], int | None]


def collect_tenant_raw(
    tenant_cfg: TenantConfig,
    now: datetime,
    *,
    retry: RetryPolicy | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> tuple[TenantCollection, RawResponses | None]:
    """:func:`collect_tenant`, with the raw responses behind the inventory (None when the tenant
    was not collected). They hold secrets (the ``key`` fields): only ``capture`` reads them."""
    name, auth = tenant_cfg.name, tenant_cfg.auth
    try:
        client = client_for(tenant_cfg, retry)
    except (ValueError, OSError) as exc:  # e.g. an unreadable ca_bundle
        return TenantCollection(name, None, f"setup: {exc}", auth), None
    try:
        with client:
            run = _TenantRun(client, tenant_cfg, now, page_size)
            inventory = run.run()
    except SoarError as exc:
        log.warning("tenant %s not collected: %s", name, exc)
        return TenantCollection(name, None, str(exc), auth), None
    except Exception as exc:  # fail closed: any surprise makes the tenant an error
        log.error("tenant %s not collected: unexpected %s", name, type(exc).__name__,
                  exc_info=True)
        return (TenantCollection(name, None, f"collect: unexpected {type(exc).__name__}", auth),
                None)
    log.info("tenant %s collected: %s", name, inventory.counts())
    raw = RawResponses(
        bodies={k: v for k, v in run.raw.items() if v is not shapes.NOT_AVAILABLE},
        unavailable=dict(run.unavailable),
    )
    return TenantCollection(name, inventory, None, auth), raw


def collect_all(
    tenants: list[TenantConfig],
    now: datetime,
    max_concurrent: int,
    progress: Progress | None = None,
    *,
    retry: RetryPolicy | None = None,
) -> list[TenantCollection]:
    """Collect every tenant, ``max_concurrent`` at a time; results in configuration order.
    ``progress(tenant, event)`` is called with event "start", then "ok" or "error"."""
    if not tenants:
        return []

    def one(tenant: TenantConfig) -> TenantCollection:
        _tell(progress, tenant.name, "start")
        result = collect_tenant(tenant, now, retry=retry)
        _tell(progress, tenant.name, "ok" if result.ok else "error")
        return result

    workers = max(1, min(max_concurrent, len(tenants)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="collect") as pool:
        return list(pool.map(one, tenants))


def _tell(progress: Progress | None, tenant: str, event: str) -> None:
    if progress is None:
        return
    try:
        progress(tenant, event)
    except Exception:  # a display problem must not stop an audit
        log.debug("progress callback failed", exc_info=True)


class _TenantRun:
    """One tenant's calls, fanned out on a bounded pool as their inputs become known."""

    def __init__(self, client: SoarClient, tenant: TenantConfig, now: datetime,
                 page_size: int) -> None:
        self.client, self.tenant, self.now, self.page_size = client, tenant, now, page_size
        self.drift = shapes.DriftLog()
        self.pending: dict[Future[Any], tuple[str, int]] = {}
        self.raw: dict[tuple[str, int], Any] = {}
        self.errors: list[SoarError] = []
        self.unavailable: dict[tuple[str, int], int | None] = {}

    def submit(self, pool: ThreadPoolExecutor, what: str, arg: int,
               fn: Callable[..., Any], *args: Any) -> None:
        self.pending[pool.submit(fn, *args)] = (what, arg)

    def run(self) -> Inventory:
        c = self.client
        pages: list[list[Environment]] = []
        cards: list[tuple[int, str]] = []
        with ThreadPoolExecutor(max_workers=self.tenant.max_connections,
                                thread_name_prefix=f"soar-{self.tenant.name}") as pool:
            self.submit(pool, "GetApiKeys", 0, c.api_keys)
            self.submit(pool, "GetEnvironments", 0, c.environments_page, 0, self.page_size)
            self.submit(pool, "GetPermissionsGroupCards", 0, c.permission_group_cards)
            self.submit(pool, "GetSocRoles", 0, c.soc_roles)
            self.submit(pool, "GetSystemVersion", 0, c.system_version)
            while self.pending and not self.errors:
                done, _ = wait(list(self.pending), return_when=FIRST_COMPLETED)
                for future in done:
                    what, arg = self.pending.pop(future)
                    try:
                        value = self._result(future, what, arg)
                        self.raw[(what, arg)] = value
                        if what == "GetEnvironments" and arg == 0:
                            first, total = shapes.parse_environments_page(value, self.drift)
                            pages.append(first)
                            for page in range(1, total):
                                self.submit(pool, what, page, c.environments_page, page,
                                            self.page_size)
                        elif what == "GetPermissionsGroupCards":
                            cards = shapes.parse_group_cards(value, self.drift)
                            for group_id, _name in cards:
                                self.submit(pool, "GetPermissionGroup", group_id,
                                            c.permission_group, group_id)
                                self.submit(pool, "GetAllEnvironmentStatus", group_id,
                                            c.all_environment_status, group_id)
                    except SoarError as exc:
                        self.errors.append(exc)
            if self.errors:
                for future in self.pending:
                    future.cancel()
                for future in list(self.pending):
                    if not future.cancelled():
                        try:
                            self._result(future, *self.pending[future])
                        except SoarError as exc:
                            self.errors.append(exc)
        if self.errors:
            raise min(self.errors, key=lambda e: _PRIORITY.index(e.endpoint)
                      if e.endpoint in _PRIORITY else len(_PRIORITY))
        return self._inventory(pages, cards)

    def _result(self, future: Future[Any], what: str, arg: int = 0) -> Any:
        try:
            return future.result()
        except SoarError as exc:
            if what == "GetSystemVersion":
                self.drift.note(what, "(response)", f"not available: {exc.reason}")
                self.unavailable[(what, arg)] = exc.status
                return shapes.NOT_AVAILABLE
            if what in ("GetPermissionGroup", "GetAllEnvironmentStatus") and exc.status == 404:
                self.unavailable[(what, arg)] = exc.status
                return shapes.NOT_AVAILABLE
            raise

    def _inventory(self, first_pages: list[list[Environment]],
                   cards: list[tuple[int, str]]) -> Inventory:
        drift = self.drift
        later = sorted((arg, value) for (what, arg), value in self.raw.items()
                       if what == "GetEnvironments" and arg > 0)
        env_pages = first_pages + [shapes.parse_environments_page(v, drift)[0] for _, v in later]
        environments: list[Environment] = []
        seen: set[str] = set()
        for env in (e for page in env_pages for e in page):
            if env.name in seen:
                drift.note("GetEnvironments", "objectsList",
                           "an environment listed twice (the list changed while paging?)")
                continue
            seen.add(env.name)
            environments.append(env)
        groups: list[PermissionGroup] = [
            shapes.build_group(
                gid, name,
                self.raw.get(("GetAllEnvironmentStatus", gid), shapes.NOT_AVAILABLE),
                self.raw.get(("GetPermissionGroup", gid), shapes.NOT_AVAILABLE),
                drift,
            )
            for gid, name in cards
        ]
        no_status = [gid for gid, _ in cards
                     if self.raw.get(("GetAllEnvironmentStatus", gid)) is shapes.NOT_AVAILABLE]
        if no_status:
            drift.note("GetAllEnvironmentStatus", "(HTTP 404)",
                       f"no answer for group id(s) {', '.join(map(str, no_status))}; "
                       "their state was read from the group detail where possible")
        version = self.raw.get(("GetSystemVersion", 0), shapes.NOT_AVAILABLE)
        return Inventory(
            tenant=self.tenant.name,
            collected_at=self.now,
            environments=tuple(environments),
            permission_groups=tuple(groups),
            soc_roles=tuple(shapes.parse_soc_roles(self.raw[("GetSocRoles", 0)], drift)),
            api_keys=tuple(shapes.parse_api_keys(self.raw[("GetApiKeys", 0)], drift)),
            system_version=None if version is shapes.NOT_AVAILABLE
            else shapes.parse_system_version(version, drift),
            auth=self.tenant.auth,
            drift=drift.notes,
        )
