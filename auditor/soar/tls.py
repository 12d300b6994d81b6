"""TLS and proxy facts shared by the SOAR client, Google token requests, Slack and ``doctor``.

- :func:`tls_problem` names what is wrong with a failed handshake (untrusted CA, self-signed,
  expired, not yet valid, wrong host name, or a handshake that is not TLS 1.2+ at all) from
  OpenSSL's verification code, with the fix a user can apply.
- :func:`env_proxy_for` is the proxy that ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` choose
  for a URL (the same decision ``requests`` makes), for clients that do not read ``NO_PROXY``.
"""

from __future__ import annotations

import base64
import functools
import http.client
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import certifi
import requests
import requests.utils
from requests.adapters import HTTPAdapter

if TYPE_CHECKING:
    from requests.adapters import _HostParams, _PoolKwargs

MIN_TLS = ssl.TLSVersion.TLSv1_2

# OpenSSL X509_V_ERR_* codes -> kind
_KINDS: dict[int, str] = {
    2: "untrusted",  # unable to get issuer certificate
    20: "untrusted",  # unable to get local issuer certificate
    21: "untrusted",  # unable to verify the first certificate
    18: "self_signed",  # self-signed certificate (depth zero)
    19: "self_signed_chain",  # self-signed certificate in certificate chain
    10: "expired",
    9: "not_yet_valid",
    62: "hostname",  # Hostname mismatch
    64: "hostname",  # IP address mismatch
}

# kind -> (what is wrong, with {host}; the fix; the short advice in a client error line)
_TEXTS: dict[str, tuple[str, str, str]] = {
    "untrusted": (
        "the certificate of {host} is issued by a CA this machine does not trust",
        "put the issuing CA certificate (PEM) in the tenant's ca_bundle",
        "see ca_bundle",
    ),
    "self_signed": (
        "the certificate of {host} is self-signed",
        "add that certificate (PEM) to the tenant's ca_bundle if it is the right one, or give "
        "the server a certificate from a trusted CA",
        "the server's certificate is self-signed: add it to ca_bundle",
    ),
    "self_signed_chain": (
        "the certificate chain of {host} ends in a root CA this machine does not trust "
        "(typical of a TLS-inspecting proxy)",
        "put that root CA certificate (PEM) in the tenant's ca_bundle",
        "the chain's root CA is not trusted (TLS inspection?): add it to ca_bundle",
    ),
    "expired": (
        "the certificate of {host} has expired",
        "the certificate must be renewed on the server; ca_bundle cannot make an expired "
        "certificate valid",
        "the server's certificate has expired and must be renewed",
    ),
    "not_yet_valid": (
        "the certificate of {host} is not valid yet",
        "check the clock of this machine, or wait for the certificate's start date",
        "the certificate is not valid yet: check this machine's clock",
    ),
    "hostname": (
        "the certificate of {host} is not issued for {host}",
        "use the host name the certificate names in the tenant url, or have the certificate "
        "reissued for {host}",
        "the certificate is not issued for this host name: check the tenant url",
    ),
    "handshake": (
        "the TLS handshake with {host} failed",
        "check that the url is the HTTPS endpoint of the tenant and that the server (or the "
        "proxy) speaks TLS 1.2 or newer",
        "is it an HTTPS endpoint speaking TLS 1.2 or newer?",
    ),
}


@dataclass(frozen=True, slots=True)
class TlsProblem:
    """What went wrong in a TLS handshake. ``reason``: OpenSSL's own words."""

    kind: str
    reason: str

    def what(self, host: str) -> str:
        return _TEXTS[self.kind][0].format(host=host)

    def fix(self, host: str) -> str:
        return _TEXTS[self.kind][1].format(host=host)

    def client_reason(self, host: str) -> str:
        """The one-line reason of a SoarError (``host`` with its port)."""
        advice = _TEXTS[self.kind][2]
        if self.kind == "handshake":
            return f"TLS handshake with {host} failed ({self.reason}); {advice}"
        return f"TLS verification of {host} failed ({self.reason}); {advice}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (args, ``reason``, cause, context), breadth first."""
    seen: set[int] = set()
    queue: list[BaseException] = [exc]
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [*current.args, getattr(current, "reason", None), current.__cause__,
                 current.__context__]
        queue.extend(e for e in inner if isinstance(e, BaseException))


def tls_problem(exc: BaseException) -> TlsProblem | None:
    """The TLS problem inside ``exc`` (a requests/urllib3/ssl error), or None if it is not one."""
    found: ssl.SSLError | None = None
    for inner in _chain(exc):
        if isinstance(inner, ssl.SSLCertVerificationError):
            message = str(inner.verify_message or "certificate verify failed").rstrip(".")
            return TlsProblem(_KINDS.get(inner.verify_code, "untrusted"), message)
        if isinstance(inner, ssl.SSLError) and found is None:
            found = inner
    if found is None:
        return None
    reason = found.reason or found.strerror or type(found).__name__
    return TlsProblem("handshake", str(reason).replace("_", " ").lower())


def client_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A verifying client context, TLS 1.2 or newer: the system store, certifi's, ``ca_bundle``
    (the one the SOAR client uses; see :func:`trust_context`)."""
    return trust_context(ca_bundle)


# -- trust: what every TLS connection of the auditor verifies against ---------------------------
def trust_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """Verification always on: the system store plus certifi's, plus ``ca_bundle`` if given.
    Built once per bundle file version (loading the stores takes tens of milliseconds)."""
    stamp = os.stat(ca_bundle).st_mtime_ns if ca_bundle else 0
    return _trust_context(ca_bundle, stamp)


_TRUST_LOCK = threading.Lock()


def _trust_context(ca_bundle: str | None, stamp: int) -> ssl.SSLContext:
    with _TRUST_LOCK:  # tenants start at once: load the stores once, not once per tenant
        return _build_trust(ca_bundle, stamp)


@functools.lru_cache(maxsize=16)
def _build_trust(ca_bundle: str | None, stamp: int) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.minimum_version = MIN_TLS  # TLS 1.2 or newer, whatever the system default says
    ctx.load_verify_locations(cafile=certifi.where())
    if ca_bundle:
        ctx.load_verify_locations(cafile=ca_bundle)
    return ctx


class TrustAdapter(HTTPAdapter):
    """A requests adapter whose connections verify with ``ctx`` (google-auth's token session)."""

    def __init__(self, ctx: ssl.SSLContext, **kwargs: Any) -> None:
        self._ctx = ctx
        super().__init__(**kwargs)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str,
        cert: str | tuple[str, str] | None = None,
    ) -> tuple[_HostParams, _PoolKwargs]:
        host, pool = super().build_connection_pool_key_attributes(request, verify, cert)
        pool["ssl_context"] = self._ctx
        pool["cert_reqs"] = "CERT_REQUIRED"
        return host, pool

    def cert_verify(self, conn: Any, url: str, verify: bool | str,
                    cert: str | tuple[str, str] | None) -> None:
        super().cert_verify(conn, url, verify or True, cert)  # type: ignore[no-untyped-call]
        conn.cert_reqs = "CERT_REQUIRED"  # never CERT_NONE: that would also weaken self._ctx
        if verify is True:  # the adapter's context already holds system + certifi + ca_bundle;
            conn.ca_certs = conn.ca_cert_dir = None  # do not reload certifi per connection


def env_proxy_for(url: str) -> str | None:
    """The proxy URL the environment chooses for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY``/
    ``ALL_PROXY``, unless ``NO_PROXY`` excludes the host), or None for a direct connection."""
    proxies = requests.utils.get_environ_proxies(url)
    return requests.utils.select_proxy(url, proxies)


def proxy_label(proxy: str) -> str:
    """``host:port`` of a proxy URL (never its credentials)."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


# -- reachability probes (doctor) ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Probe:
    """The outcome of one step on the way to a server: ``ok`` and a text (what was found, or
    what went wrong), plus the fix when it failed."""

    ok: bool
    text: str
    fix: str | None = None


def resolve(host: str, port: int) -> tuple[list[tuple[Any, ...]], Probe]:
    """getaddrinfo of ``host``: (the addresses to connect to, the outcome)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return [], Probe(False, f"cannot resolve the host name {host}",
                         "check the host name in the url (and the DNS settings of this machine)")
    addresses = sorted({str(info[4][0]) for info in infos})
    shown = ", ".join(addresses[:3]) + (f" and {len(addresses) - 3} more" if len(addresses) > 3
                                        else "")
    return infos, Probe(True, f"{host} resolves to {shown}")


def connect(host: str, port: int, infos: list[tuple[Any, ...]], timeout: float) -> Probe:
    """A TCP connection to one of ``infos`` (closed again at once)."""
    errors: list[OSError] = []
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as exc:
            errors.append(exc)
            continue
        finally:
            sock.close()
        return Probe(True, f"{host} accepts connections on port {port}")
    if any(isinstance(e, TimeoutError | socket.timeout) for e in errors):
        return Probe(False, f"no answer from {host} on port {port} within {timeout:g}s",
                     "a firewall may drop the traffic: allow it, or set HTTPS_PROXY to the "
                     "proxy this network uses")
    if any(isinstance(e, ConnectionRefusedError) for e in errors):
        return Probe(False, f"{host} refused the connection on port {port}",
                     "check the port in the url (the SOAR API listens on 443) and that the "
                     "server is up")
    why = next((e.strerror for e in errors if e.strerror), "connection failed")
    return Probe(False, f"cannot connect to {host} on port {port} ({why.lower()})",
                 "check the network path to the server (routes, firewall, HTTPS_PROXY)")


def handshake(host: str, port: int, context: ssl.SSLContext, timeout: float,
              proxy: str | None = None) -> Probe:
    """A TLS handshake with ``host`` (through ``proxy``'s CONNECT tunnel when given), verified
    with ``context``."""
    if proxy is not None:
        parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port or 80,
                                           context=context, timeout=timeout)
        headers = {}
        if parts.username:
            raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers["Proxy-Authorization"] = "Basic " + base64.b64encode(raw).decode()
        conn.set_tunnel(host, port, headers=headers)
    else:
        conn = http.client.HTTPSConnection(host, port, context=context, timeout=timeout)
    try:
        conn.connect()
        sock = conn.sock
        version = sock.version() if isinstance(sock, ssl.SSLSocket) else None
    except (ssl.SSLError, ssl.CertificateError) as exc:
        problem = tls_problem(exc) or TlsProblem("handshake", "handshake failed")
        return Probe(False, f"{problem.what(host)} ({problem.reason})", problem.fix(host))
    except OSError as exc:
        text = str(exc)
        if proxy is not None and "Tunnel connection failed" in text:
            status = text.split("Tunnel connection failed:", 1)[1].strip()
            return Probe(False, f"the proxy {proxy_label(proxy)} refused a tunnel to "
                         f"{host}:{port} ({status})",
                         f"allow {host} on the proxy, or exclude it with NO_PROXY")
        if isinstance(exc, TimeoutError | socket.timeout):
            return Probe(False, f"the TLS handshake with {host} did not finish within "
                         f"{timeout:g}s", "check that the url is the HTTPS endpoint")
        return Probe(False, f"the TLS handshake with {host} failed "
                     f"({exc.strerror or type(exc).__name__})",
                     "check that the url is the HTTPS endpoint of the server")
    finally:
        conn.close()
    return Probe(True, f"the certificate of {host} is trusted ({version or 'TLS'})")
