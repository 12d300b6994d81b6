"""HTTP transport to one SOAR tenant: session, authentication, timeouts, retries, TLS trust.

Read-only by design: GETs and the "Get..." POSTs, nothing else. Every failure becomes a
:class:`SoarError` whose message is one line naming the endpoint and what went wrong (for example
``GetApiKeys: HTTP 401 Unauthorized (check the tenant's api_key)``); no message, log line or repr
ever holds the credential.
"""

from __future__ import annotations

import http
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlencode, urlsplit

import urllib3
from pydantic import SecretStr
from urllib3.util.retry import Retry

from auditor import __version__
from auditor.logs import REDACTED, register_secret, scrub
from auditor.soar import catalog
from auditor.soar.bodies import error_message, loads, too_large
from auditor.soar.catalog import Dialect, Endpoint, Surface
from auditor.soar.errors import ShapeError as ShapeError
from auditor.soar.errors import SoarError as SoarError
from auditor.soar.tls import env_proxy_for, proxy_label, tls_problem
from auditor.soar.tls import trust_context as trust_context
from auditor.textsafe import term_safe

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

Timeout = float | tuple[float, float]


# -- authentication ------------------------------------------------------------------------------
@runtime_checkable
class AuthProvider(Protocol):
    """What the client needs of a credential: the headers of one request (called per request, so
    a provider may refresh a token). An optional ``credential_hint`` attribute names the setting
    that a 401/403 message tells the user to check (default "credentials")."""

    def headers(self) -> dict[str, str]: ...


class AppKeyAuth:
    """``AppKey: <key>``; the key is held as a SecretStr and registered for log scrubbing."""

    credential_hint = "api_key"

    def __init__(self, app_key: SecretStr | str) -> None:
        self._key = app_key if isinstance(app_key, SecretStr) else SecretStr(app_key)
        register_secret(self._key.get_secret_value())

    def headers(self) -> dict[str, str]:
        return {"AppKey": self._key.get_secret_value()}

    def __repr__(self) -> str:
        return "AppKeyAuth(<redacted>)"


class BearerAuth:
    """``Authorization: Bearer <token>``, the token from a callable (e.g. refreshed Google
    credentials); each token is registered for log scrubbing."""

    credential_hint = "credentials"

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def headers(self) -> dict[str, str]:
        value = self._token()
        register_secret(value)
        return {"Authorization": f"Bearer {value}"}

    def __repr__(self) -> str:
        return "BearerAuth(<redacted>)"


# -- retries -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of 429/502/503/504 and connection errors, with exponential backoff and jitter.

    ``total``: retries per request; ``read``: of those, how many after a read timeout or a dropped
    answer; sleeps are ``backoff_factor * 2**n + U(0, backoff_jitter)`` up to ``backoff_max``, or
    the server's Retry-After capped at ``retry_after_max`` seconds.
    """

    total: int = 4
    read: int = 1
    backoff_factor: float = 0.5
    backoff_jitter: float = 0.5
    backoff_max: float = 10.0
    retry_after_max: int = 30
    statuses: tuple[int, ...] = (429, 502, 503, 504)

    def to_urllib3(self) -> Retry:
        return Retry(
            total=self.total,
            connect=self.total,
            read=self.read,
            status=self.total,
            other=0,
            redirect=0,
            allowed_methods=frozenset({"GET", "POST"}),  # only read-only calls are ever made
            status_forcelist=self.statuses,
            backoff_factor=self.backoff_factor,
            backoff_jitter=self.backoff_jitter,
            backoff_max=self.backoff_max,
            retry_after_max=self.retry_after_max,
            respect_retry_after_header=True,
            raise_on_status=False,
            raise_on_redirect=False,
        )


# Tests replace this to keep retries fast; None arguments below mean "this default".
DEFAULT_RETRY = RetryPolicy()


def default_retry() -> RetryPolicy:
    return DEFAULT_RETRY


# -- the client ----------------------------------------------------------------------------------
class SoarClient:
    """Read-only JSON calls to one tenant. Thread-safe for concurrent calls (one connection pool
    of ``max_connections``)."""

    def __init__(
        self,
        base_url: str,
        auth: AuthProvider,
        ca_bundle: str | None = None,
        timeout: Timeout = 30.0,
        max_connections: int = 4,
        retry: RetryPolicy | None = None,
        *,
        surface: Surface = catalog.LEGACY,
        params: Mapping[str, str] | None = None,
        max_response_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.max_response_bytes = max_response_bytes
        self.base_url = base_url.rstrip("/")
        self._surface = surface
        self._params = dict(params or {})  # project, location, instance of Google surfaces
        self._host = urlsplit(self.base_url).netloc
        self._auth = auth
        self._timeout = timeout if isinstance(timeout, tuple) else (min(10.0, timeout), timeout)
        self.retry = retry or default_retry()
        # urllib3 directly (requests' own transport, without its per-request work: hooks,
        # cookies, ~/.netrc and proxy lookups): a tenant's calls are many and small.
        self._headers = {"Accept": "application/json",
                         "User-Agent": f"soar-key-auditor/{__version__}"}
        self._u3_timeout = urllib3.Timeout(connect=self._timeout[0], read=self._timeout[1])
        self._u3_retry = self.retry.to_urllib3()
        common: dict[str, Any] = {
            "num_pools": 2, "maxsize": max(1, max_connections), "block": False,
            "ssl_context": trust_context(ca_bundle), "cert_reqs": "CERT_REQUIRED",
            "retries": self._u3_retry, "timeout": self._u3_timeout,
        }
        proxy = env_proxy_for(self.base_url)  # HTTPS_PROXY / NO_PROXY, read once for this host
        self._http: urllib3.PoolManager
        if proxy is not None:
            parts = urlsplit(proxy)
            basic = (f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
                     if parts.username else None)
            bare = proxy.replace(f"{parts.username}:{parts.password}@", "").replace(
                f"{parts.username}@", "") if parts.username else proxy
            self._http = urllib3.ProxyManager(
                bare,
                proxy_headers=urllib3.make_headers(proxy_basic_auth=basic) if basic else None,
                proxy_ssl_context=common["ssl_context"], **common)
        else:
            self._http = urllib3.PoolManager(**common)

    def __repr__(self) -> str:
        return f"SoarClient({self.base_url!r}, {self._surface.name})"

    @property
    def surface(self) -> Surface:
        return self._surface

    def auth_headers(self) -> dict[str, str]:
        """The credential's headers now (a token provider fetches its token): raises SoarError
        when it cannot. Never log or print what this returns."""
        return self._auth.headers()

    def close(self) -> None:
        self._http.clear()

    def __enter__(self) -> SoarClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the catalog's calls ---------------------------------------------------------------------
    def call(self, ep: Endpoint, dialect: Dialect | None = None, *, item: int | None = None,
             page: int | str | None = None, page_size: int = 100) -> Any:
        """One call of catalog endpoint ``ep`` in ``dialect`` (default: its first): ``item`` for a
        fan-out call, ``page`` the page number (``pages``) or page token (``tokens``)."""
        dialect = dialect or ep.dialects[0]
        path = catalog.path_for(ep, dialect, self._params, item)
        body: dict[str, Any] | None = dict(dialect.body) if dialect.body is not None else None
        query: dict[str, str | int] | None = None
        if dialect.paging == "pages":
            body = {**(body or {}), "requestedPage": int(page or 0), "pageSize": page_size}
        elif dialect.paging == "tokens":
            query = {"pageSize": page_size}
            if page:
                query["pageToken"] = str(page)
        return self._call(dialect.method, ep.name, path, body, query, ep)

    def fetch(self, name: str, **kw: Any) -> Any:
        """:meth:`call` by endpoint name (first dialect)."""
        return self.call(catalog.endpoint(name), **kw)

    # -- transport -------------------------------------------------------------------------------
    def get_json(self, endpoint: str, path: str) -> Any:
        return self._call("GET", endpoint, self._surface.prefix + path, None)

    def post_json(self, endpoint: str, path: str, body: Mapping[str, Any]) -> Any:
        if catalog.canonical_name(endpoint) is None:
            raise ValueError(f"{endpoint}: the auditor makes the read-only calls of its "
                             "catalog only")
        return self._call("POST", endpoint, self._surface.prefix + path, dict(body))

    def _call(self, method: str, endpoint: str, path: str, body: dict[str, Any] | None,
              query: Mapping[str, str | int] | None = None, ep: Endpoint | None = None) -> Any:
        url = f"{self.base_url}{path}" + (f"?{urlencode(query)}" if query else "")
        started = time.monotonic()
        try:
            headers = {**self._headers, **self._auth.headers()}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            raw = self._http.request(method, url, body=data, headers=headers, redirect=False,
                                     preload_content=False, retries=self._u3_retry,
                                     timeout=self._u3_timeout)
            response = _Answer(raw.status, raw.headers, self._read(endpoint, raw),
                               _retries_used(raw))
        except urllib3.exceptions.HTTPError as exc:
            raise SoarError(endpoint, self._redact(self._describe(exc))) from None
        elapsed = (time.monotonic() - started) * 1000
        retries = response.retries
        log.debug("%s %s -> %d in %.0f ms%s", method, path, response.status_code,
                  elapsed, f" after {retries} retries" if retries else "")
        if response.status_code >= 300:
            raise SoarError(endpoint, self._status_reason(response, retries, ep),
                            response.status_code)
        content = response.content
        try:
            return loads(content)
        except RecursionError:
            raise ShapeError(endpoint, "the response is nested too deeply to be read "
                             f"({len(content)} bytes)", response.status_code) from None
        except ValueError:
            ctype = response.headers.get("Content-Type", "no content type").split(";")[0]
            raise ShapeError(
                endpoint, f"the response is not valid JSON ({term_safe(ctype)[:60]}, "
                f"{len(content)} bytes)", response.status_code,
            ) from None

    def _read(self, endpoint: str, raw: urllib3.BaseHTTPResponse) -> bytes:
        """The body, streamed, never more than ``max_response_bytes`` of it (the rest is not
        read: the connection is dropped)."""
        cap = self.max_response_bytes
        try:
            announced = int(raw.headers.get("Content-Length") or 0)
        except ValueError:
            announced = 0
        try:
            if announced > cap:
                raw.close()
                raise SoarError(endpoint, too_large(announced, cap), raw.status)
            chunks: list[bytes] = []
            size = 0
            for chunk in raw.stream(1 << 16):
                size += len(chunk)
                if size > cap:
                    raw.close()
                    raise SoarError(endpoint, too_large(None, cap), raw.status)
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            raw.release_conn()

    def _status_reason(self, response: _Answer, retries: int,
                       ep: Endpoint | None = None) -> str:
        code = response.status_code
        try:
            phrase = http.HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        reason = f"HTTP {code} {phrase}"
        if code in (401, 403):
            hint = getattr(self._auth, "credential_hint", "credentials")
            reason += f" (check the tenant's {hint})"
        elif 300 <= code < 400:
            reason += " (redirect not followed: check the tenant URL)"
        elif retries:
            reason += f" (gave up after {retries} retries)"
        detail, permission = error_message(response)
        if code == 403 and ep is not None and ep.surface.errors == "google":
            needed = permission or ep.permission
            if needed:
                reason += f"; missing permission {term_safe(needed)[:100]}"
        if detail and not detail.lower().startswith(phrase.lower()):
            reason += f": {detail}"
        return self._redact(reason)

    def _describe(self, exc: urllib3.exceptions.HTTPError) -> str:
        errors = urllib3.exceptions
        inner: BaseException = exc.reason if isinstance(exc, errors.MaxRetryError) and \
            exc.reason is not None else exc
        text = f"{exc} {inner}"
        if isinstance(inner, errors.ProxyError) or (
                isinstance(inner, errors.NewConnectionError) and self._proxy()):
            proxy = self._proxy()
            via = f" through the proxy {proxy}" if proxy else " through the proxy"
            why = "the proxy refused the tunnel" if "Tunnel connection failed" in text else (
                "the proxy is not reachable")
            return f"cannot reach {self._host}{via}: {why} (check HTTPS_PROXY / NO_PROXY)"
        if isinstance(inner, errors.SSLError) or tls_problem(exc) is not None:
            problem = tls_problem(exc)
            if problem is not None:
                return problem.client_reason(self._host)
            found = re.search(r"certificate verify failed: ([^()'\"]+)", text)
            why = found.group(1).strip() if found else "handshake failed"
            return f"TLS verification of {self._host} failed ({why}); see ca_bundle"
        if isinstance(inner, errors.NameResolutionError) or "Name or service not known" in text:
            return f"cannot reach {self._host}: host name not resolved"
        if "refused" in text:
            return f"cannot reach {self._host}: connection refused"
        # (urllib3's NewConnectionError is a ConnectTimeoutError: only a real timeout says so)
        if isinstance(inner, errors.ConnectTimeoutError) and (
                not isinstance(inner, errors.NewConnectionError) or "timed out" in text):
            return f"connecting to {self._host} timed out after {self._timeout[0]:g}s"
        if isinstance(inner, errors.ReadTimeoutError) or "Read timed out" in text:
            return f"no answer from {self._host} within {self._timeout[1]:g}s (read timeout)"
        if isinstance(inner, errors.ProtocolError) or "RemoteDisconnected" in text \
                or "Connection aborted" in text:
            return f"cannot reach {self._host}: the server closed the connection without an answer"
        if isinstance(inner, errors.NewConnectionError):
            return f"cannot reach {self._host}: connection failed"
        return f"request failed ({type(inner).__name__})"

    def _proxy(self) -> str | None:
        proxy = env_proxy_for(self.base_url)
        return proxy_label(proxy) if proxy else None

    def _redact(self, text: str) -> str:
        try:
            values = list(self._auth.headers().values())
        except Exception:  # a failing token provider must not hide the error
            log.debug("credential provider failed while redacting", exc_info=True)
            values = []
        for value in values:
            for part in (value, value.removeprefix("Bearer ")):
                if len(part) >= 4:
                    text = text.replace(part, REDACTED)
        return scrub(text)


@dataclass(frozen=True, slots=True)
class _Answer:
    """What is kept of an HTTP answer: status, headers, the body (read under the cap)."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    retries: int = 0

    def json(self) -> Any:
        return loads(self.content)


def _retries_used(response: urllib3.BaseHTTPResponse) -> int:
    retries = getattr(response, "retries", None)
    history = getattr(retries, "history", ()) or ()
    return len(history)


