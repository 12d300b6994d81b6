"""TLS and proxies as a corporate network has them: the simulator over HTTPS with certificates
from a throwaway CA (trusted through ca_bundle, or untrusted, expired, for another host,
self-signed, or TLS 1.1 only), reached directly or through a CONNECT proxy."""

from __future__ import annotations

import json
import ssl
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from auditor.config import TenantConfig, parse_config
from auditor.simulator.server import SimulatorServer
from auditor.soar.client import trust_context
from auditor.soar.collect import collect_tenant
from tests.conftest import TEST_NOW
from tests.realtenant.conftest import HttpsSimulator, server_context
from tests.realtenant.helpers import ConnectProxy, TokenServer, make_service_account

NOW = TEST_NOW
TenantFactory = Callable[..., TenantConfig]


def _error(cfg: TenantConfig) -> str:
    result = collect_tenant(cfg, NOW)
    assert not result.ok and result.error is not None
    return result.error


def test_trusted_through_ca_bundle_it_audits(https_simulator: HttpsSimulator, ca_file: Path,
                                             tenant_config: TenantFactory) -> None:
    sim = https_simulator("good")
    assert sim.url.startswith("https://127.0.0.1:")
    result = collect_tenant(tenant_config(sim, ca_bundle=str(ca_file)), NOW)
    assert result.ok, result.error
    assert result.inventory is not None and len(result.inventory.api_keys) == 19


@pytest.mark.parametrize(
    ("kind", "url_host", "reason"),
    [
        ("untrusted", "127.0.0.1",
         "(unable to get local issuer certificate); see ca_bundle"),
        ("self_signed", "127.0.0.1",
         "(self-signed certificate); the server's certificate is self-signed: add it to "
         "ca_bundle"),
        ("expired", "127.0.0.1",
         "(certificate has expired); the server's certificate has expired and must be renewed"),
        ("wrong_host", "127.0.0.1",
         "(IP address mismatch, certificate is not valid for '127.0.0.1'); the certificate is "
         "not issued for this host name: check the tenant url"),
        ("wrong_host", "localhost",
         "(Hostname mismatch, certificate is not valid for 'localhost'); the certificate is not "
         "issued for this host name: check the tenant url"),
    ],
)
def test_each_certificate_problem_has_its_own_message(
    https_simulator: HttpsSimulator, ca_file: Path, tenant_config: TenantFactory,
    kind: str, url_host: str, reason: str,
) -> None:
    sim = https_simulator("good" if kind == "untrusted" else kind)
    bundle = None if kind == "untrusted" else str(ca_file)
    cfg = tenant_config(sim, url=f"https://{url_host}:{sim.port}", ca_bundle=bundle)
    assert _error(cfg) == f"GetApiKeys: TLS verification of {url_host}:{sim.port} failed {reason}"


def test_tls_1_2_is_the_minimum(start_simulator: Callable[..., SimulatorServer], ca: trustme.CA,
                                ca_file: Path, tenant_config: TenantFactory) -> None:
    assert trust_context(None).minimum_version == ssl.TLSVersion.TLSv1_2
    assert trust_context(str(ca_file)).minimum_version == ssl.TLSVersion.TLSv1_2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # a server that still speaks TLS 1.1
    ca.issue_cert("127.0.0.1").configure_cert(old)
    sim = start_simulator("demo", ssl_context=old)
    assert _error(tenant_config(sim, ca_bundle=str(ca_file))) == (
        f"GetApiKeys: TLS handshake with 127.0.0.1:{sim.port} failed (tlsv1 alert protocol "
        "version); is it an HTTPS endpoint speaking TLS 1.2 or newer?")
    twelve = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    twelve.maximum_version = ssl.TLSVersion.TLSv1_2
    ca.issue_cert("127.0.0.1").configure_cert(twelve)
    sim12 = start_simulator("demo", ssl_context=twelve)
    assert collect_tenant(tenant_config(sim12, ca_bundle=str(ca_file)), NOW).ok


def test_through_a_proxy_it_audits_and_the_proxy_saw_the_traffic(
    https_simulator: HttpsSimulator, ca_file: Path, proxy: ConnectProxy,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    from auditor.pipeline import run_audit

    sim = https_simulator("good")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    config = parse_config({
        "tenants": [{"name": "acme-prod", "url": sim.url, "api_key": sim.app_key,
                     "ca_bundle": str(ca_file)}],
        "state": f"sqlite:///{tmp_path}/state.db",
        "reports": {"dir": str(tmp_path), "formats": ["json"]},
    })
    result = run_audit(config, now=NOW, out_dir=tmp_path / "out", notify=False)
    assert result.status == "complete" and result.findings
    assert set(proxy.connects) == {f"127.0.0.1:{sim.port}"}
    assert len(sim.request_log) > 10  # every call went through the tunnel
    tenants = json.loads((tmp_path / "out" / "findings.json").read_text())["tenants"]
    assert tenants[0]["status"] == "ok"


def test_no_proxy_is_honoured(https_simulator: HttpsSimulator, ca_file: Path,
                              proxy: ConnectProxy, tenant_config: TenantFactory,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    sim = https_simulator("good")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert collect_tenant(tenant_config(sim, ca_bundle=str(ca_file)), NOW).ok
    assert proxy.connects == [] and sim.request_log


def test_a_proxy_that_refuses_or_is_down(https_simulator: HttpsSimulator, ca_file: Path,
                                         tenant_config: TenantFactory,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sim = https_simulator("good")
    denying = ConnectProxy(deny=("127.0.0.1",)).start()
    try:
        monkeypatch.setenv("HTTPS_PROXY", denying.url)
        label = denying.url.removeprefix("http://")
        assert _error(tenant_config(sim, ca_bundle=str(ca_file))) == (
            f"GetApiKeys: cannot reach 127.0.0.1:{sim.port} through the proxy {label}: the "
            "proxy refused the tunnel (check HTTPS_PROXY / NO_PROXY)")
    finally:
        denying.stop()
    assert _error(tenant_config(sim, ca_bundle=str(ca_file))) == (
        f"GetApiKeys: cannot reach 127.0.0.1:{sim.port} through the proxy {label}: the proxy "
        "is not reachable (check HTTPS_PROXY / NO_PROXY)")


@pytest.fixture
def https_token_server(ca: trustme.CA) -> Iterator[TokenServer]:
    server = TokenServer(["ya29.behind-the-proxy-000000"],
                         server_context(ca.issue_cert("127.0.0.1"))).start()
    yield server
    server.stop()


def test_google_tokens_use_the_tenants_trust_and_proxy(
    https_simulator: HttpsSimulator, demo_scenario: Any, ca_file: Path, proxy: ConnectProxy,
    https_token_server: TokenServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    start_simulator: Callable[..., SimulatorServer], ca: trustme.CA,
) -> None:
    account = make_service_account(tmp_path, https_token_server.token_uri)
    https_token_server.state.public_pem = account.public_pem
    scenario = {**demo_scenario.to_dict(), "bearer_tokens": ["ya29.behind-the-proxy-000000"]}
    sim = start_simulator(scenario, ssl_context=server_context(ca.issue_cert("127.0.0.1")))

    def tenant(bundle: Path | None) -> TenantConfig:
        return TenantConfig.model_validate({
            "name": "gcp", "url": sim.url, "auth": "google", "ca_bundle": bundle and str(bundle),
            "google_credentials_file": str(account.path), "timeout_seconds": 5})

    token_port = https_token_server.token_uri.split(":")[2].split("/")[0]
    assert _error(tenant(None)) == (
        f"Google token: cannot get an access token: TLS verification of 127.0.0.1:{token_port} "
        "failed (unable to get local issuer certificate); see ca_bundle")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    assert collect_tenant(tenant(ca_file), NOW).ok
    assert set(proxy.connects) == {f"127.0.0.1:{token_port}", f"127.0.0.1:{sim.port}"}
