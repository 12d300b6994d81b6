"""Fixtures for first contact with real tenants: HTTPS simulators with certificates from a
throwaway CA, a Google token endpoint, a CONNECT proxy; no proxy or Google setting of the
machine running the tests leaks in."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import trustme

from auditor.clock import SYSTEM_CLOCK
from auditor.simulator.server import SimulatorServer
from tests.realtenant.helpers import ConnectProxy, TokenServer

PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
              "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
              "GOOGLE_APPLICATION_CREDENTIALS")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "corp-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


HttpsSimulator = Callable[..., SimulatorServer]


@pytest.fixture
def https_simulator(start_simulator: Callable[..., SimulatorServer],
                    ca: trustme.CA) -> HttpsSimulator:
    """``https_simulator(kind="good", scenario="demo")``: the simulator over HTTPS with a
    certificate from ``ca`` for 127.0.0.1 ("good"), an expired one ("expired"), one for another
    host ("wrong_host"), or a self-signed one ("self_signed")."""

    def start(kind: str = "good", scenario: Any = "demo") -> SimulatorServer:
        if kind == "good":
            cert = ca.issue_cert("127.0.0.1", "localhost")
        elif kind == "expired":
            cert = ca.issue_cert("127.0.0.1", not_before=datetime(2020, 1, 1),
                                 not_after=datetime(2021, 1, 1))
        elif kind == "wrong_host":
            cert = ca.issue_cert("soar.example.com")
        elif kind == "self_signed":
            return start_simulator(scenario, ssl_context=_self_signed_context())
        else:
            raise ValueError(kind)
        return start_simulator(scenario, ssl_context=server_context(cert))

    return start


def _self_signed_context() -> ssl.SSLContext:
    """A server context with a self-signed certificate for 127.0.0.1 (issuer == subject)."""
    import ipaddress
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "soar.self-signed.test")])
    now = SYSTEM_CLOCK.now()
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert_file, key_file)
    return ctx


@pytest.fixture
def token_server() -> Iterator[Callable[..., TokenServer]]:
    started: list[TokenServer] = []

    def start(tokens: list[str], ssl_context: ssl.SSLContext | None = None) -> TokenServer:
        server = TokenServer(tokens, ssl_context).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    server = ConnectProxy().start()
    yield server
    server.stop()
