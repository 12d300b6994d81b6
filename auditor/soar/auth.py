"""``auth: google``: tenants migrated to Google Cloud, reached with an OAuth access token.

The credentials are a service-account key file (``google_credentials_file``) or, without one,
Google's application default credentials (``GOOGLE_APPLICATION_CREDENTIALS`` naming any credential
file google-auth reads, e.g. workload identity federation; ``gcloud auth application-default
login``; the service account attached to the machine). Scope: cloud-platform. The token is
sent as ``Authorization: Bearer`` and refreshed before it expires (``REFRESH_MARGIN`` ahead), by
one thread at a time: a tenant's calls run concurrently and share it. Token requests go through
the tenant's trust (``ca_bundle``, TLS 1.2+) and the environment's proxies, like the API calls.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.oauth2 import service_account

from auditor.clock import SYSTEM_CLOCK
from auditor.config import TenantConfig
from auditor.logs import register_secret, scrub
from auditor.soar.client import BearerAuth, SoarError
from auditor.soar.tls import TrustAdapter, tls_problem, trust_context
from auditor.textsafe import term_safe

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_MARGIN = timedelta(minutes=5)
TOKEN_ENDPOINT = "Google token"  # noqa: S105 - the "endpoint" of a SoarError about getting a token
ADC_HINT = "Google application default credentials"
FILE_HINT = "google_credentials_file"


def _naive_system_now() -> datetime:
    """The system clock in google-auth's convention: naive datetimes in UTC."""
    return SYSTEM_CLOCK.now().replace(tzinfo=None)


class _TokenRequest(google.auth.transport.requests.Request):
    """google-auth's requests transport with our session and a bounded default timeout."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        super().__init__(session)
        self._default_timeout = timeout

    def __call__(self, url: str, method: str = "GET", body: Any = None,
                 headers: Any = None, timeout: Any = None, **kwargs: Any) -> Any:
        return super().__call__(  # type: ignore[no-untyped-call]
            url, method=method, body=body, headers=headers,
            timeout=timeout or self._default_timeout, **kwargs)


def token_session(ca_bundle: str | None) -> requests.Session:
    """A session for token requests: verified TLS 1.2+ with ``ca_bundle`` as extra trust, and the
    proxies of the environment (``HTTPS_PROXY`` / ``NO_PROXY``)."""
    session = requests.Session()
    session.trust_env = True
    adapter = TrustAdapter(trust_context(ca_bundle))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class GoogleAuth(BearerAuth):
    """A Bearer token from google-auth credentials, refreshed ``margin`` before it expires.

    ``clock`` returns naive UTC (as google-auth's ``expiry``); tests move it forward.
    ``refreshes`` counts the tokens fetched so far.
    """

    def __init__(
        self,
        credentials: google.auth.credentials.Credentials,
        *,
        hint: str = FILE_HINT,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        margin: timedelta = REFRESH_MARGIN,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(self.token)
        self.credentials = credentials
        self.credential_hint = hint
        self._request = _TokenRequest(session or token_session(None), timeout)
        self._margin = margin
        self._clock = clock or _naive_system_now
        self._lock = threading.Lock()
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"GoogleAuth({self.credential_hint}, <redacted>)"

    def _stale(self) -> bool:
        creds = self.credentials
        if not creds.token or not creds.valid:
            return True
        expiry = creds.expiry
        if expiry is None:
            return False
        if expiry.tzinfo is not None:
            expiry = expiry.astimezone(UTC).replace(tzinfo=None)
        return bool(self._clock() >= expiry - self._margin)

    def token(self) -> str:
        """The current access token, fetching a new one first when it is (nearly) expired."""
        with self._lock:
            if self._stale():
                try:
                    self.credentials.refresh(self._request)  # type: ignore[no-untyped-call]
                except google.auth.exceptions.GoogleAuthError as exc:
                    raise SoarError(TOKEN_ENDPOINT, self._explain(exc)) from None
                self.refreshes += 1
            token = self.credentials.token
        if not isinstance(token, str) or not token:
            raise SoarError(TOKEN_ENDPOINT, "google-auth returned no access token; check the "
                            f"tenant's {self.credential_hint}")
        register_secret(token)
        return token

    def _explain(self, exc: google.auth.exceptions.GoogleAuthError) -> str:
        token_uri = getattr(self.credentials, "_token_uri", None) or "the token endpoint"
        host = urlsplit(token_uri).netloc or token_uri
        problem = tls_problem(exc)
        if problem is not None:
            return f"cannot get an access token: {problem.client_reason(host)}"
        if isinstance(exc, google.auth.exceptions.TransportError):
            return (f"cannot reach {host} to get an access token (check the network, "
                    "HTTPS_PROXY / NO_PROXY)")
        first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else type(exc).__name__
        line = " ".join(term_safe(scrub(first)).split())[:200]
        return f"cannot get an access token ({line}); check the tenant's {self.credential_hint}"


def load_credentials(
    credentials_file: str | None,
    scopes: tuple[str, ...] | list[str] = SCOPES,
    token_uri: str | None = None,
) -> tuple[google.auth.credentials.Credentials, str]:
    """(credentials scoped to cloud-platform, the setting a user checks when they fail).

    ``credentials_file`` must be a service-account key; other credential types (workload
    identity federation, user credentials) come through the application default credentials.
    Raises ValueError with one clear line when the file or the default credentials are unusable.
    """
    if credentials_file:
        try:
            kind = json.loads(Path(credentials_file).read_text(encoding="utf-8")).get("type")
        except (OSError, ValueError, AttributeError):
            kind = None
        if kind != "service_account":
            raise ValueError(
                f"google_credentials_file {credentials_file}: not a service-account key file "
                '(JSON with "type": "service_account"); for other credential types leave it '
                "out and set GOOGLE_APPLICATION_CREDENTIALS"
            )
        try:
            info = json.loads(Path(credentials_file).read_text(encoding="utf-8"))
            if token_uri:
                info["token_uri"] = token_uri
            creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=list(scopes)
            )
        except (ValueError, KeyError, OSError) as exc:
            detail = " ".join(term_safe(str(exc)).split())[:200]
            raise ValueError(f"google_credentials_file {credentials_file}: not usable: "
                             f"{detail}") from None
        return creds, FILE_HINT
    try:
        creds, _project = google.auth.default(scopes=list(scopes))
    except google.auth.exceptions.GoogleAuthError as exc:
        detail = " ".join(term_safe(str(exc.args[0] if exc.args else exc)).split())[:200]
        raise ValueError(
            "auth: google without google_credentials_file needs application default "
            "credentials (GOOGLE_APPLICATION_CREDENTIALS, or an attached service account): "
            f"{detail}"
        ) from None
    return creds, ADC_HINT


def google_provider(tenant: TenantConfig) -> GoogleAuth:
    """The AuthProvider of an ``auth: google`` tenant (called by the collect stage)."""
    creds, hint = load_credentials(tenant.google_credentials_file)
    return GoogleAuth(creds, hint=hint, session=token_session(tenant.ca_bundle),
                      timeout=tenant.timeout_seconds)


def chronicle_provider(tenant: TenantConfig) -> GoogleAuth:
    """The AuthProvider of a tenant's Chronicle and IAM surfaces (one token for both)."""
    chron = tenant.chronicle
    if chron is None:
        raise ValueError(f"tenant {tenant.name}: no chronicle block")
    creds, hint = load_credentials(chron.google_credentials_file, chron.scopes, chron.token_uri)
    hint = "chronicle.google_credentials_file" if hint == FILE_HINT else hint
    return GoogleAuth(creds, hint=hint, session=token_session(tenant.ca_bundle),
                      timeout=tenant.timeout_seconds)
