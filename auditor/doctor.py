"""``soar-auditor doctor``: is everything in the configuration reachable and readable?

Per tenant, in order (a failed step skips the ones that need it): the host name resolves; a TCP
connection opens (to the proxy, when ``HTTPS_PROXY`` applies and ``NO_PROXY`` does not exclude
the host); the TLS handshake verifies (naming the CA problem); the credential is accepted
(GetSystemVersion); one page of each endpoint is read, and its shape compared with the one the
auditor knows. Then Slack (auth.test for a bot token; a webhook cannot be checked without posting)
and the state store (opened, one query). Each check is one line; a problem carries its fix.
"""

from __future__ import annotations

import http
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from auditor.config import Config, SlackConfig, TenantConfig
from auditor.logs import scrub
from auditor.soar import catalog, shapes
from auditor.soar.catalog import Endpoint
from auditor.soar.client import RetryPolicy, ShapeError, SoarClient, SoarError
from auditor.soar.models import Surface as SurfaceName
from auditor.soar.tls import (
    connect,
    env_proxy_for,
    handshake,
    proxy_label,
    resolve,
    trust_context,
)
from auditor.textsafe import term_safe

Status = Literal["ok", "info", "warn", "fail", "skip"]
REPORT_HINT = ("please report it: `soar-auditor capture --config FILE --tenant {tenant} "
               "--anonymize --out {tenant}.yaml` records a secret-free copy to attach")


@dataclass(frozen=True, slots=True)
class Check:
    scope: str  # a tenant name, "slack" or "state"
    name: str  # "DNS", "connect", "TLS", "auth", an endpoint name, ...
    status: Status
    message: str
    fix: str | None = None

    def line(self) -> str:
        text = f"{self.status.upper():<4} {self.scope}: {self.name}: {self.message}"
        if self.fix:
            text += f". Fix: {self.fix}"
        return term_safe(scrub(text))


Emit = Callable[[Check], None]


@dataclass(slots=True)
class _Tenant:
    """The checks of one tenant, emitted as they are made."""

    tenant: TenantConfig
    emit: Emit
    retry: RetryPolicy | None
    failed: bool = False

    def add(self, name: str, status: Status, message: str, fix: str | None = None) -> None:
        self.failed = self.failed or status == "fail"
        self.emit(Check(self.tenant.name, name, status, message, fix))

    # -- network path ----------------------------------------------------------------------------
    def path(self) -> bool:
        """The network path to each host the tenant's surfaces live on."""
        urls: list[tuple[str, str]] = []
        if self.tenant.url is not None:
            urls.append((self.tenant.url, ""))
        chron = self.tenant.chronicle
        if chron is not None:
            urls.append((chron.base_url, " (chronicle)"))
            if chron.iam and urlsplit(chron.iam_endpoint).netloc != urlsplit(
                    chron.base_url).netloc:
                urls.append((chron.iam_endpoint, " (iam)"))
        return all([self._path(url, label) for url, label in urls])

    def _path(self, url: str, label: str) -> bool:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        timeout = min(10.0, self.tenant.timeout_seconds)
        proxy = env_proxy_for(url)
        if proxy is not None:
            via = proxy_label(proxy)
            var = "HTTPS_PROXY" if parts.scheme == "https" else "HTTP_PROXY"
            self.add("proxy" + label, "info", f"{host} is reached through the proxy {via} "
                     f"({var}; NO_PROXY does not exclude it)")
            p_host, p_port = via.rsplit(":", 1)
            return self._reach(p_host, int(p_port), timeout, "proxy DNS" + label,
                               "proxy connect" + label) and (
                parts.scheme != "https" or self._tls(host, port, timeout, proxy, label))
        return self._reach(host, port, timeout, "DNS" + label, "connect" + label) and (
            parts.scheme != "https" or self._tls(host, port, timeout, None, label))

    def _reach(self, host: str, port: int, timeout: float, dns: str, tcp: str) -> bool:
        infos, found = resolve(host, port)
        self.add(dns, "ok" if found.ok else "fail", found.text, found.fix)
        if not found.ok:
            return False
        reached = connect(host, port, infos, timeout)
        self.add(tcp, "ok" if reached.ok else "fail", reached.text, reached.fix)
        return reached.ok

    def _tls(self, host: str, port: int, timeout: float, proxy: str | None,
             label: str = "") -> bool:
        try:
            context = trust_context(self.tenant.ca_bundle)
        except (OSError, ssl.SSLError):
            self.add("TLS" + label, "fail", f"ca_bundle {self.tenant.ca_bundle} holds no usable "
                     "certificate", "give a file of PEM certificates (-----BEGIN CERTIFICATE-----)")
            return False
        if proxy is not None and proxy.lower().startswith("https://"):
            self.add("TLS" + label, "info", "not probed through an https:// proxy; the API "
                     "calls below show whether TLS works")
            return True
        done = handshake(host, port, context, timeout, proxy)
        self.add("TLS" + label, "ok" if done.ok else "fail", done.text, done.fix)
        return done.ok

    # -- the API ---------------------------------------------------------------------------------
    def api(self) -> None:
        from auditor.soar.collect import clients_for

        try:
            clients = clients_for(self.tenant, self.retry)
        except (ValueError, OSError, NotImplementedError) as exc:
            self.add("auth", "fail", str(exc), self._auth_fix(None))
            return
        try:
            legacy = clients.get("legacy")
            if legacy is not None and not self._authenticate(legacy):
                return
            google = clients.get("chronicle")
            usable = clients
            if google is not None and not self._google_token(google):
                usable = {k: v for k, v in clients.items() if k == "legacy"}
            self._endpoints(usable)
        finally:
            for client in clients.values():
                client.close()

    def _auth_fix(self, status: int | None) -> str:
        if self.tenant.auth == "google":
            if status == 403:
                return ("grant the service account the IAM permissions of the SecOps instance "
                        "that reading settings and permissions needs")
            return ("check google_credentials_file (a service-account key of the project of "
                    "the SecOps instance) or the application default credentials")
        if status == 403:
            return ("the key is known but not allowed: give it a permission group and SOC role "
                    "that may read settings and permissions")
        return ("check api_key: it must be a key listed in Settings > Advanced > API keys "
                "of this tenant")

    def _authenticate(self, client: SoarClient) -> bool:
        how = "Google token" if self.tenant.auth == "google" else "AppKey"
        try:
            version = shapes.parse_system_version(client.fetch("GetSystemVersion"),
                                                  shapes.DriftLog())
        except SoarError as exc:
            if exc.status in (401, 403):
                phrase = http.HTTPStatus(exc.status).phrase
                self.add("auth", "fail", f"{exc.endpoint} answered HTTP {exc.status} {phrase}",
                         self._auth_fix(exc.status))
                return False
            if exc.endpoint == "Google token":  # auditor.soar.auth.TOKEN_ENDPOINT
                self.add("auth", "fail", exc.reason, self._auth_fix(None))
                return False
            if exc.status == 404:
                self.add("auth", "warn", f"{exc}; the credential is checked by the next calls")
                return True
            self.add("auth", "fail", str(exc), "see the message; `soar-auditor -vv doctor` "
                     "logs every HTTP exchange")
            return False
        self.add("auth", "ok", f"accepted ({how}); GetSystemVersion: {version or 'no version'}")
        if self.tenant.auth == "google":
            self.add("auth", "info", "migrated instance: IAM replaces permission groups; "
                     "rules about groups judge the legacy groups that the API still lists")
        return True

    def _google_token(self, client: SoarClient) -> bool:
        """The Chronicle and IAM surfaces: can google-auth get a token?"""
        try:
            client.auth_headers()
        except SoarError as exc:
            self.add("chronicle auth", "fail", exc.reason,
                     "check chronicle.google_credentials_file (a service-account key of the "
                     "SecOps project) or the application default credentials")
            return False
        self.add("chronicle auth", "ok", "google-auth obtained an access token")
        return True

    def _read(self, client: SoarClient, ep: Endpoint) -> Any:
        """One page of ``ep`` in the first dialect that answers; the parsed value, or None."""
        tried: list[str] = []
        drift = shapes.DriftLog()
        for i, dialect in enumerate(ep.dialects):
            try:
                body = client.call(ep, dialect, page=None if dialect.paging == "tokens" else 0)
                total: int | None = None
                if ep.lists:
                    items, total, _token = shapes.page_items(ep.name, body, ep.collection, drift)
                    parsed = ep.parse(items, drift)
                else:
                    parsed = ep.parse(body, drift)
            except SoarError as exc:
                if exc.status in ep.fallback_on and i + 1 < len(ep.dialects):
                    tried.append(f"{dialect.describe()}: HTTP {exc.status}")
                    continue
                self._endpoint_failed(ep, exc)
                return None
            what = _summary(ep, parsed, total)
            if len(ep.dialects) > 1:
                what += f" (dialect {dialect.describe()}" + (
                    f"; {', '.join(tried)}" if tried else "") + ")"
            notes = drift.notes
            self.add(ep.name, "ok", what + ("" if notes else ", shape as expected"))
            for note in notes:
                self.add(note.endpoint, "warn", f"{note.field}: {note.detail}")
            return parsed
        return None

    def _endpoint_failed(self, ep: Endpoint, exc: SoarError) -> None:
        if not ep.required and exc.status in (404, 501):
            self.add(ep.name, "info", f"{exc.reason}; optional, the audit goes on without it")
            return
        if exc.status in (401, 403):
            fix = (self._auth_fix(exc.status) if ep.surface.errors == "soar" else
                   "grant the auditor's service account a role holding that permission on the "
                   "SecOps project (see the README: read-only access)")
        elif isinstance(exc, ShapeError):
            fix = "the audit cannot read this answer; " + REPORT_HINT.format(
                tenant=self.tenant.name)
        else:
            fix = "see the message; `soar-auditor -vv doctor` logs every HTTP exchange"
        self.add(ep.name, "fail", exc.reason, fix)

    def _endpoints(self, clients: dict[SurfaceName, SoarClient]) -> None:
        for ep in catalog.plan(tuple(clients)):
            if ep.per is not None or (ep.into == "system_version" and ep.surface.name == "legacy"):
                continue
            parsed = self._read(clients[ep.surface.name], ep)
            if parsed and any(e.per == ep.name for e in catalog.ENDPOINTS):
                self._group(clients[ep.surface.name], *parsed[0])

    def _group(self, client: SoarClient, group_id: int, name: str) -> None:
        answers: list[Any] = []
        for fan in (e for e in catalog.ENDPOINTS if e.per == "GetPermissionsGroupCards"):
            try:
                answers.append(client.call(fan, item=group_id))
            except SoarError as exc:
                if exc.status != 404:
                    self.add(fan.name, "fail", exc.reason, self._auth_fix(exc.status)
                             if exc.status in (401, 403) else "see the message")
                    return
                answers.append(shapes.NOT_AVAILABLE)
        detail, status = answers
        drift = shapes.DriftLog()
        state, source = shapes.decide_all_environments(group_id, status, detail, drift)
        label = f"group {group_id} ({name})"
        if state is None:
            self.add("GetPermissionGroup", "warn", f"the All Environments state of {label} is "
                     "not found in any answer; rules that need it say unknown")
        else:
            self.add("GetPermissionGroup", "ok", f"All Environments state of {label} read "
                     f"from {source}")


_WORDS = {"api_keys": "API key(s)", "environments": "environment(s)",
          "permission_groups": "permission group(s)", "soc_roles": "SOC role(s)",
          "mappings": "Group Mapping entr(ies)", "users": "SOAR user(s)",
          "iam_bindings": "IAM binding(s)"}


def _summary(ep: Endpoint, parsed: Any, total: int | None) -> str:
    if ep.into == "system_version":
        return f"version {parsed or 'not given'}"
    words = f"{len(parsed)} {_WORDS.get(ep.into or '', 'item(s)')}"
    if ep.dialects[0].paging == "pages" and ep.into == "environments":
        words += f" on page 1 of {total}"
    elif ep.lists and ep.collection:
        words += " on the first page"
    return words


def check_tenant(tenant: TenantConfig, emit: Emit, retry: RetryPolicy | None = None) -> bool:
    """The checks of one tenant; True when none failed."""
    run = _Tenant(tenant, emit, retry)
    if run.path():
        run.api()
    else:
        run.add("API", "skip", "not checked (the steps above failed)")
    return not run.failed


def check_slack(slack: SlackConfig | None, emit: Emit) -> bool:
    from auditor.notify.slack import DeliveryError, SlackTransport

    if slack is None:
        emit(Check("slack", "config", "info", "not configured: no alerts are sent"))
        return True
    ok = True
    if slack.bot_token is not None:
        try:
            user = SlackTransport(slack, timeout=10).check("default")
        except DeliveryError as exc:
            emit(Check("slack", "bot token", "fail", str(exc),
                       "check slack.bot_token: a bot token (xoxb-...) of an app installed in the "
                       "workspace (behind TLS inspection also slack.ca_bundle)"))
            ok = False
        else:
            emit(Check("slack", "bot token", "ok", f"accepted by auth.test (bot user {user})"))
    hooks = int(slack.webhook_url is not None) + sum(r.webhook_url is not None
                                                     for r in slack.routes)
    if hooks:
        emit(Check("slack", "webhook", "info", f"{hooks} webhook URL(s) cannot be checked "
                   "without posting; `soar-auditor notify --test --config FILE` posts a test "
                   "message"))
    return ok


def check_state(config: Config, emit: Emit) -> bool:
    from auditor.state import StoreError, open_store, safe_url, state_url

    url = state_url(config)
    where = safe_url(url)
    if url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        path = Path(make_url(url).database or "")
        if not path.exists():
            folder = next((p for p in path.parents if p.exists()), Path("."))
            if folder.is_dir() and _writable(folder):
                emit(Check("state", "store", "ok", f"{path} does not exist yet; the first audit "
                           "creates it"))
                return True
            emit(Check("state", "store", "fail", f"{path} cannot be created in {folder}",
                       "point state: at a writable folder"))
            return False
    try:
        store = open_store(url, retention_days=config.retention_days)
        try:
            runs = store.history(limit=1)
        finally:
            store.close()
    except StoreError as exc:
        emit(Check("state", "store", "fail", str(exc).removeprefix("state: "),
                   "check state: in the configuration: the database must be reachable from "
                   "here, and its user allowed to connect and create tables"))
        return False
    last = f"last audit {runs[0].run_id} ({runs[0].status})" if runs else "no audit yet"
    emit(Check("state", "store", "ok", f"{where} opened; {last}"))
    return True


def _writable(folder: Path) -> bool:
    import os

    return os.access(folder, os.W_OK | os.X_OK)


def run_doctor(config: Config, emit: Emit, *, tenants: list[str] | None = None,
               retry: RetryPolicy | None = None) -> bool:
    """Every check of ``config`` (or of the named tenants only); True when none failed."""
    ok = True
    for tenant in config.tenants:
        if tenants and tenant.name not in tenants:
            continue
        ok = check_tenant(tenant, emit, retry) and ok
    ok = check_slack(config.slack, emit) and ok
    return check_state(config, emit) and ok
