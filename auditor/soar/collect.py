"""The collect stage: every tenant of the configuration -> a TenantCollection (inventory or error).

Driven by the endpoint catalog (:mod:`auditor.soar.catalog`): a tenant is read over the surfaces
its configuration names (``url``: the legacy SOAR API; ``chronicle:``: the Chronicle API, and the
SecOps project's IAM policy unless ``iam: false``). Tenants are collected concurrently; inside a
tenant every call whose inputs are known runs at once on a bounded pool (the first page of every
list, then the other pages and the fan-out calls as their inputs arrive). An endpoint with several
dialects is tried in the catalog's order, the next dialect when one answers 404/405; the one that
answered is remembered for the run and recorded in the inventory. A failure of any required call
fails the tenant closed with one line: ``<endpoint>: <reason>``; optional calls that fail are
drift notes.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auditor.config import TenantConfig
from auditor.soar import catalog, shapes
from auditor.soar.catalog import Dialect, Endpoint
from auditor.soar.client import AppKeyAuth, AuthProvider, RetryPolicy, SoarClient, SoarError
from auditor.soar.models import Inventory, PermissionGroup, Surface, TenantCollection

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]
DEFAULT_PAGE_SIZE = 100
_ORDER = {name: i for i, name in enumerate(catalog.NAMES)}


def _priority(error: SoarError) -> tuple[bool, int]:
    """Which error a tenant reports when several calls failed (e.g. all with 401): a required
    call's before an optional one's, then in catalog order."""
    ep = catalog.BY_NAME.get(error.endpoint)
    return (ep is None or not ep.required or ep.per is not None,
            _ORDER.get(error.endpoint, len(_ORDER)))


def surfaces_of(tenant: TenantConfig) -> tuple[Surface, ...]:
    out: list[Surface] = []
    if tenant.url is not None:
        out.append("legacy")
    if tenant.chronicle is not None:
        out.append("chronicle")
        if tenant.chronicle.iam:
            out.append("iam")
    return tuple(out)


def auth_provider_for(tenant: TenantConfig) -> AuthProvider:
    """The credential of the legacy surface: its AppKey, or (``auth: google``, migrated
    instances) a Google bearer token from :func:`auditor.soar.auth.google_provider`."""
    if tenant.auth == "appkey":
        if tenant.api_key is None:
            raise ValueError(f"tenant {tenant.name}: no api_key")
        return AppKeyAuth(tenant.api_key)
    from auditor.soar.auth import google_provider

    return google_provider(tenant)


def client_for(tenant: TenantConfig, retry: RetryPolicy | None = None) -> SoarClient:
    """The client of the legacy surface."""
    if tenant.url is None:
        raise ValueError(f"tenant {tenant.name}: no url (the legacy SOAR API is not configured)")
    return SoarClient(
        tenant.url,
        auth_provider_for(tenant),
        ca_bundle=tenant.ca_bundle,
        timeout=tenant.timeout_seconds,
        max_connections=tenant.max_connections,
        retry=retry,
        max_response_bytes=_cap(tenant),
    )


def _cap(tenant: TenantConfig) -> int:
    return int(tenant.max_response_mb * (1 << 20))


def clients_for(tenant: TenantConfig, retry: RetryPolicy | None = None
                ) -> dict[Surface, SoarClient]:
    """One client per configured surface (the Google surfaces share one token)."""
    clients: dict[Surface, SoarClient] = {}
    if tenant.url is not None:
        clients["legacy"] = client_for(tenant, retry)
    chron = tenant.chronicle
    if chron is not None:
        from auditor.soar.auth import chronicle_provider

        auth = chronicle_provider(tenant)
        common: dict[str, Any] = {"ca_bundle": tenant.ca_bundle,
                                  "timeout": tenant.timeout_seconds,
                                  "max_connections": tenant.max_connections, "retry": retry,
                                  "max_response_bytes": _cap(tenant)}
        clients["chronicle"] = SoarClient(
            chron.base_url, auth, surface=catalog.CHRONICLE,
            params={"project": chron.project, "location": chron.location,
                    "instance": chron.instance}, **common)
        if chron.iam:
            clients["iam"] = SoarClient(chron.iam_endpoint, auth, surface=catalog.IAM,
                                        params={"project": chron.project}, **common)
    return clients


def collect_tenant(
    tenant_cfg: TenantConfig,
    now: datetime,
    *,
    retry: RetryPolicy | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> TenantCollection:
    """Collect one tenant; never raises for a tenant problem (the error is in the result)."""
    return collect_tenant_raw(tenant_cfg, now, retry=retry, page_size=page_size)[0]


Key = tuple[str, int | None]  # (endpoint name, item id of a fan-out call)


@dataclass(frozen=True, slots=True)
class RawResponses:
    """The parsed JSON bodies of one collection: ``pages[(endpoint, item)]`` the bodies of every
    page in order; ``unavailable``: optional calls that answered an error (its HTTP status, None
    without one); ``dialects``: the dialect that answered, per endpoint with several."""

    pages: dict[Key, list[Any]]
    unavailable: dict[Key, int | None]
    dialects: dict[str, str] = field(default_factory=dict)

    def body(self, name: str, item: int | None = None) -> Any:
        """The (first) body of one call; KeyError when it did not answer."""
        return self.pages[(name, item)][0]

    def items(self, name: str, item: int | None = None) -> list[Any]:
        """The items of every page of a list call, in order."""
        ep = catalog.endpoint(name)
        drift = shapes.DriftLog()
        out: list[Any] = []
        for body in self.pages.get((name, item), []):
            out.extend(shapes.page_items(name, body, ep.collection, drift)[0])
        return out


def collect_tenant_raw(
    tenant_cfg: TenantConfig,
    now: datetime,
    *,
    retry: RetryPolicy | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> tuple[TenantCollection, RawResponses | None]:
    """:func:`collect_tenant`, with the raw responses behind the inventory (None when the tenant
    was not collected). They hold secrets (the ``key`` fields): only ``capture`` reads them."""
    name = tenant_cfg.name
    auth = "google" if tenant_cfg.url is None else tenant_cfg.auth
    surfaces = surfaces_of(tenant_cfg)
    try:
        clients = clients_for(tenant_cfg, retry)
    except (ValueError, OSError) as exc:  # e.g. an unreadable ca_bundle or credentials file
        return TenantCollection(name, None, f"setup: {exc}", auth, surfaces), None
    try:
        run = _TenantRun(clients, tenant_cfg, now, page_size)
        inventory = run.run()
    except SoarError as exc:
        log.debug("tenant %s not collected: %s", name, exc)  # the run names it once, at the end
        return TenantCollection(name, None, str(exc), auth, surfaces), None
    except Exception as exc:  # fail closed: any surprise makes the tenant an error
        log.error("tenant %s not collected: unexpected %s", name, type(exc).__name__,
                  exc_info=True)
        return (TenantCollection(name, None, f"collect: unexpected {type(exc).__name__}", auth,
                                 surfaces),
                None)
    finally:
        for client in clients.values():
            client.close()
    log.info("tenant %s collected: %s", name, inventory.counts())
    raw = RawResponses(pages={k: [v for _, v in sorted(p.items())] for k, p in run.pages.items()},
                       unavailable=dict(run.unavailable), dialects=dict(run.dialect))
    return TenantCollection(name, inventory, None, auth, inventory.surfaces), raw


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


@dataclass(frozen=True, slots=True)
class _Task:
    ep: Endpoint
    item: int | None
    dialect: int  # index into ep.dialects
    page: int  # 0, 1, ...: the page number, or the position in a token chain
    token: str | None = None


class _TenantRun:
    """One tenant's calls, fanned out on a bounded pool as their inputs become known."""

    def __init__(self, clients: dict[Surface, SoarClient], tenant: TenantConfig, now: datetime,
                 page_size: int) -> None:
        self.clients, self.tenant, self.now, self.page_size = clients, tenant, now, page_size
        self.surfaces = tuple(s for s in catalog.SURFACES if s in clients)
        self.plan = catalog.plan(self.surfaces)
        self.drift = shapes.DriftLog(now=now)
        self.max_pages = tenant.max_pages
        self.pending: dict[Future[Any], _Task] = {}
        self.pages: dict[Key, dict[int, Any]] = defaultdict(dict)
        self.errors: list[SoarError] = []
        self.unavailable: dict[Key, int | None] = {}
        self.dialect: dict[str, str] = {}  # endpoint -> the dialect that answered
        self._tried: dict[Key, list[str]] = defaultdict(list)
        self._tokens: dict[Key, set[str]] = defaultdict(set)
        self._paging: dict[Key, dict[str, Any]] = {}

    def _submit(self, task: _Task) -> None:
        client = self.clients[task.ep.surface.name]
        pool = self._pools[task.ep.surface.name]
        page: int | str | None = task.token if task.ep.dialects[task.dialect].paging == "tokens" \
            else task.page
        future = pool.submit(client.call, task.ep, task.ep.dialects[task.dialect],
                             item=task.item, page=page, page_size=self.page_size)
        self.pending[future] = task

    def run(self) -> Inventory:
        # One pool per surface, as wide as its client's connection pool (its own host).
        self._pools = {s: ThreadPoolExecutor(max_workers=self.tenant.max_connections,
                                             thread_name_prefix=f"soar-{self.tenant.name}-{s}")
                       for s in self.clients}
        try:
            self._run()
        finally:
            for pool in self._pools.values():
                pool.shutdown(wait=True, cancel_futures=True)
        if self.errors:
            raise min(self.errors, key=_priority)
        return self._inventory()

    def _run(self) -> None:
        for ep in self.plan:
            if ep.per is None:
                self._submit(_Task(ep, None, 0, 0))
        while self.pending and not self.errors:
            done, _ = wait(list(self.pending), return_when=FIRST_COMPLETED)
            for future in done:
                task = self.pending.pop(future)
                try:
                    self._done(task, future)
                except SoarError as exc:
                    self.errors.append(exc)
        if self.errors:  # the calls already running finish: report the most telling error
            for future in self.pending:
                future.cancel()
            for future, task in list(self.pending.items()):
                if not future.cancelled() and task.dialect == 0 and task.page == 0:
                    try:
                        future.result()
                    except SoarError as exc:
                        if task.ep.required and task.item is None and not (
                                exc.status in task.ep.fallback_on
                                and len(task.ep.dialects) > 1):
                            self.errors.append(exc)

    def _done(self, task: _Task, future: Future[Any]) -> None:
        ep, key = task.ep, (task.ep.name, task.item)
        dialect = ep.dialects[task.dialect]
        try:
            body = future.result()
        except SoarError as exc:
            self._failed(task, dialect, exc)
            return
        if len(ep.dialects) > 1:
            self.dialect.setdefault(ep.name, dialect.name)
        self.pages[key][task.page] = body
        if ep.lists:
            self._more_pages(task, dialect, body)
        fans = [e for e in self.plan if e.per == ep.name]
        if fans:
            for item in _ids(ep.parse(body, self.drift)):
                for fan in fans:
                    self._submit(_Task(fan, item, 0, 0))

    def _failed(self, task: _Task, dialect: Dialect, exc: SoarError) -> None:
        ep, key = task.ep, (task.ep.name, task.item)
        if (task.page == 0 and exc.status in ep.fallback_on
                and task.dialect + 1 < len(ep.dialects) and ep.name not in self.dialect):
            self._tried[key].append(f"{dialect.describe()}: {exc.reason}")
            self._submit(_Task(ep, task.item, task.dialect + 1, 0))
            return
        if task.item is not None and exc.status in ep.absent_ok:
            self.unavailable[key] = exc.status
            return
        if not ep.required and task.page == 0:
            self.drift.note(ep.name, "(response)", f"not available: {exc.reason}")
            self.unavailable[key] = exc.status
            return
        tried = self._tried.get(key)
        if tried:  # every dialect failed: name each answer
            answers = "; ".join([*tried, f"{dialect.describe()}: {exc.reason}"])
            raise SoarError(ep.name, f"no dialect answered ({answers})", exc.status)
        raise exc

    def _more_pages(self, task: _Task, dialect: Dialect, body: Any) -> None:
        ep, key = task.ep, (task.ep.name, task.item)
        items, total, token = shapes.page_items(ep.name, body, ep.collection, self.drift)
        if dialect.paging == "pages" and total is not None:
            self._numbered(task, items, total, body)
        elif dialect.paging == "tokens" and token:
            if token in self._tokens[key]:
                raise SoarError(ep.name, "the server repeated a page token (endless paging); "
                                f"stopped after {task.page + 1} pages")
            if task.page + 1 >= self.max_pages:
                raise SoarError(ep.name, f"more than {self.max_pages} pages (max_pages); "
                                "stopped there")
            self._tokens[key].add(token)
            self._submit(_Task(ep, task.item, task.dialect, task.page + 1, token))

    def _numbered(self, task: _Task, items: list[Any], total: int, body: Any) -> None:
        """Numbered pages, a window of ``max_connections`` ahead: stop at an empty page before
        the announced last (the count was wrong: noted), fail at a repeated page (the server
        ignores requestedPage) or beyond ``max_pages``."""
        ep, key = task.ep, (task.ep.name, task.item)
        if task.page == 0 and total > self.max_pages:
            raise SoarError(ep.name, f"the server announces {total} pages, more than the "
                            f"{self.max_pages} the auditor reads (max_pages)")
        state = self._paging.setdefault(key, {"total": total, "next": 1, "stop": None})
        if task.page > 0 and not items and task.page < state["total"]:
            stop = state["stop"]
            state["stop"] = task.page if stop is None else min(stop, task.page)
            self.drift.note(ep.name, "metadata.totalNumberOfPages",
                            f"announced {state['total']} pages, page {task.page + 1} was empty; "
                            "read up to there")
        previous = self.pages[key].get(task.page - 1)
        if task.page > 0 and items and previous is not None and previous == body:
            raise SoarError(ep.name, f"page {task.page + 1} repeats page {task.page} (the "
                            "server ignores requestedPage?); stopped")
        window = self.tenant.max_connections
        while (state["next"] < state["total"] and state["stop"] is None
               and state["next"] <= task.page + window):
            self._submit(_Task(ep, task.item, task.dialect, state["next"]))
            state["next"] += 1

    # -- the inventory ---------------------------------------------------------------------------
    def _value(self, ep: Endpoint) -> Any:
        """The parsed value of one (non fan-out) endpoint, or NOT_AVAILABLE."""
        pages = self.pages.get((ep.name, None))
        if not pages:
            return shapes.NOT_AVAILABLE
        state = self._paging.get((ep.name, None))
        stop = state["stop"] if state else None
        bodies = [pages[i] for i in sorted(pages) if stop is None or i < stop]
        if not ep.lists:
            return ep.parse(bodies[0], self.drift)
        items: list[Any] = []
        for body in bodies:
            items.extend(shapes.page_items(ep.name, body, ep.collection, self.drift)[0])
        return ep.parse(items, self.drift)

    def _inventory(self) -> Inventory:
        fields: dict[str, Any] = {}
        for ep in self.plan:
            if ep.per is not None or ep.into is None:
                continue
            value = self._value(ep)
            if value is shapes.NOT_AVAILABLE:
                continue
            if ep.per is None and any(e.per == ep.name for e in self.plan):
                value = self._groups(ep, value)  # cards + each group's detail and status
            fields[ep.into] = value
        unread = sorted({ep.into for ep in self.plan if ep.into and ep.per is None
                         and (ep.name, None) in self.unavailable and ep.into not in fields})
        version = fields.pop("system_version", None)
        tuples = {k: tuple(v) for k, v in fields.items()}
        return Inventory(
            tenant=self.tenant.name,
            collected_at=self.now,
            environments=tuples.get("environments", ()),
            permission_groups=tuples.get("permission_groups", ()),
            soc_roles=tuples.get("soc_roles", ()),
            api_keys=tuples.get("api_keys", ()),
            system_version=version,
            auth="google" if "legacy" not in self.surfaces else self.tenant.auth,
            drift=self.drift.notes,
            surfaces=self.surfaces,
            dialects=tuple(sorted(self.dialect.items())),
            mappings=tuples.get("mappings", ()),
            users=tuples.get("users", ()),
            iam_bindings=tuples.get("iam_bindings", ()),
            unread=tuple(unread),
            iam_project=self.tenant.chronicle.project if "iam" in self.surfaces
            and self.tenant.chronicle is not None else None,
        )

    def _groups(self, cards_ep: Endpoint, cards: list[tuple[int, str]]) -> list[PermissionGroup]:
        fans = [e for e in self.plan if e.per == cards_ep.name]
        status_ep, detail_ep = (catalog.endpoint("GetAllEnvironmentStatus"),
                                catalog.endpoint("GetPermissionGroup"))

        def body(ep: Endpoint, gid: int) -> Any:
            pages = self.pages.get((ep.name, gid)) if ep in fans else None
            return pages[0] if pages else shapes.NOT_AVAILABLE

        groups = [shapes.build_group(gid, name, body(status_ep, gid), body(detail_ep, gid),
                                     self.drift) for gid, name in cards]
        no_status = [gid for gid, _ in cards if (status_ep.name, gid) in self.unavailable]
        if no_status:
            self.drift.note(status_ep.name, "(HTTP 404)",
                            f"no answer for group id(s) {', '.join(map(str, no_status))}; "
                            "their state was read from the group detail where possible")
        return groups


def _ids(parsed: Any) -> list[int]:
    """The ids a fan-out runs over: of (id, name) pairs or of models with an ``id``."""
    return [int(x[0]) if isinstance(x, tuple) else int(x.id) for x in parsed]
