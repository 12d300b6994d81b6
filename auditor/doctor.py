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
from auditor.soar import shapes
from auditor.soar.client import RetryPolicy, ShapeError, SoarClient, SoarError
from auditor.soar.tls import connect, env_proxy_for, handshake, proxy_label, resolve
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
        parts = urlsplit(self.tenant.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        timeout = min(10.0, self.tenant.timeout_seconds)
        proxy = env_proxy_for(self.tenant.url)
        if proxy is not None:
            label = proxy_label(proxy)
            var = "HTTPS_PROXY" if parts.scheme == "https" else "HTTP_PROXY"
            self.add("proxy", "info", f"{host} is reached through the proxy {label} "
                     f"({var}; NO_PROXY does not exclude it)")
            p_host, p_port = label.rsplit(":", 1)
            return self._reach(p_host, int(p_port), timeout, "proxy DNS", "proxy connect") and (
                parts.scheme != "https" or self._tls(host, port, timeout, proxy))
        return self._reach(host, port, timeout, "DNS", "connect") and (
            parts.scheme != "https" or self._tls(host, port, timeout, None))

    def _reach(self, host: str, port: int, timeout: float, dns: str, tcp: str) -> bool:
        infos, found = resolve(host, port)
        self.add(dns, "ok" if found.ok else "fail", found.text, found.fix)
        if not found.ok:
            return False
        reached = connect(host, port, infos, timeout)
        self.add(tcp, "ok" if reached.ok else "fail", reached.text, reached.fix)
        return reached.ok

    def _tls(self, host: str, port: int, timeout: float, proxy: str | None) -> bool:
        from auditor.soar.client import trust_context

        try:
            context = trust_context(self.tenant.ca_bundle)
        except (OSError, ssl.SSLError):
            self.add("TLS", "fail", f"ca_bundle {self.tenant.ca_bundle} holds no usable "
                     "certificate", "give a file of PEM certificates (-----BEGIN CERTIFICATE-----)")
            return False
        if proxy is not None and proxy.lower().startswith("https://"):
            self.add("TLS", "info", "not probed through an https:// proxy; the API calls below "
                     "show whether TLS works")
            return True
        done = handshake(host, port, context, timeout, proxy)
        self.add("TLS", "ok" if done.ok else "fail", done.text, done.fix)
        return done.ok

    # -- the API ---------------------------------------------------------------------------------
    def api(self) -> None:
        from auditor.soar.collect import client_for

        try:
            client = client_for(self.tenant, self.retry)
        except (ValueError, OSError, NotImplementedError) as exc:
            self.add("auth", "fail", str(exc), self._auth_fix(None))
            return
        with client:
            if self._authenticate(client):
                self._endpoints(client)

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
            version = shapes.parse_system_version(client.system_version(), shapes.DriftLog())
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

    def _endpoints(self, client: SoarClient) -> None:
        def read(endpoint: str, call: Callable[[], Any],
                 parse: Callable[[Any, shapes.DriftLog], str]) -> bool:
            drift = shapes.DriftLog()
            try:
                summary = parse(call(), drift)
            except SoarError as exc:
                if exc.status in (401, 403):
                    fix = self._auth_fix(exc.status)
                elif isinstance(exc, ShapeError):
                    fix = ("the audit cannot read this answer; "
                           + REPORT_HINT.format(tenant=self.tenant.name))
                else:
                    fix = "see the message; `soar-auditor -vv doctor` logs every HTTP exchange"
                self.add(endpoint, "fail", exc.reason, fix)
                return False
            notes = drift.notes
            self.add(endpoint, "ok", summary + ("" if notes else ", shape as expected"))
            for note in notes:
                self.add(note.endpoint, "warn", f"{note.field}: {note.detail}")
            return True

        def keys(data: Any, drift: shapes.DriftLog) -> str:
            return f"{len(shapes.parse_api_keys(data, drift))} API key(s)"

        def envs(data: Any, drift: shapes.DriftLog) -> str:
            found, pages = shapes.parse_environments_page(data, drift)
            return f"{len(found)} environment(s) on page 1 of {pages}"

        def roles(data: Any, drift: shapes.DriftLog) -> str:
            return f"{len(shapes.parse_soc_roles(data, drift))} SOC role(s)"

        cards: list[tuple[int, str]] = []

        def groups(data: Any, drift: shapes.DriftLog) -> str:
            cards.extend(shapes.parse_group_cards(data, drift))
            return f"{len(cards)} permission group(s)"

        read("GetApiKeys", client.api_keys, keys)
        read("GetEnvironments", lambda: client.environments_page(0, 100), envs)
        if read("GetPermissionsGroupCards", client.permission_group_cards, groups) and cards:
            self._group(client, *cards[0])
        read("GetSocRoles", client.soc_roles, roles)

    def _group(self, client: SoarClient, group_id: int, name: str) -> None:
        answers: list[Any] = []
        for endpoint, call in (("GetPermissionGroup", client.permission_group),
                               ("GetAllEnvironmentStatus", client.all_environment_status)):
            try:
                answers.append(call(group_id))
            except SoarError as exc:
                if exc.status != 404:
                    self.add(endpoint, "fail", exc.reason, self._auth_fix(exc.status)
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
