"""The HTTP client: secrets never leak, TLS trust, bearer auth, read-only calls."""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from auditor.config import TenantConfig
from auditor.simulator.scenario import Scenario
from auditor.simulator.server import SimulatorServer
from auditor.soar.client import AppKeyAuth, BearerAuth, SoarClient, SoarError, trust_context
from auditor.soar.collect import client_for, collect_tenant
from tests.conftest import TEST_NOW

NOW = TEST_NOW
TenantFactory = Callable[..., TenantConfig]


def test_no_secret_reaches_a_model_repr_log_or_error(
    simulator: SimulatorServer, demo_scenario: Scenario, tenant_config: TenantFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "auditor"):
        caplog.set_level(logging.DEBUG, logger=name)
    secrets = demo_scenario.canary_secrets() | {simulator.app_key}
    assert len(secrets) > 15
    texts: list[str] = []

    cfg = tenant_config(simulator)
    ok = collect_tenant(cfg, NOW)
    assert ok.inventory is not None
    texts += [repr(ok), json.dumps(ok.inventory.to_dict()), repr(ok.inventory.drift)]
    simulator.set_phase("after")
    texts.append(repr(collect_tenant(cfg, NOW)))
    for faults in (
        [{"endpoint": "GetApiKeys", "status": 503}],
        [{"endpoint": "GetApiKeys", "body": "malformed"}],
        [{"endpoint": "GetApiKeys", "status": 302}],
        [{"endpoint": "GetSocRoles", "delay_ms": 800}],
    ):
        simulator.set_faults(faults)
        texts.append(repr(collect_tenant(tenant_config(simulator, timeout_seconds=0.2), NOW)))
    simulator.set_faults([])
    texts.append(repr(collect_tenant(tenant_config(simulator, api_key="0123-wrong-key"), NOW)))
    client = client_for(cfg)
    texts += [repr(client), repr(AppKeyAuth(simulator.app_key)), repr(cfg)]
    client.close()
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]

    everything = "\n".join(texts)
    assert "GetApiKeys: HTTP 302 Found (redirect not followed" in everything
    assert "HTTP 401 Unauthorized" in everything and "/settings/GetApiKeys" in caplog.text
    leaked = [s for s in secrets if s in everything]
    assert not leaked


def _tls_server(demo_scenario: Scenario, tmp_path: Path) -> tuple[SimulatorServer, Path]:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ca_file = tmp_path / "corp-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return SimulatorServer(demo_scenario, ssl_context=ctx).start(), ca_file


def test_tls_is_verified_and_ca_bundle_adds_trust(demo_scenario: Scenario, tmp_path: Path,
                                                  tenant_config: TenantFactory) -> None:
    srv, ca_file = _tls_server(demo_scenario, tmp_path)
    try:
        trusted = collect_tenant(tenant_config(srv, ca_bundle=str(ca_file)), NOW)
        assert trusted.ok, trusted.error
        untrusted = collect_tenant(tenant_config(srv), NOW)
        assert untrusted.error is not None
        assert untrusted.error == (f"GetApiKeys: TLS verification of 127.0.0.1:{srv.port} failed"
                                   " (unable to get local issuer certificate); see ca_bundle")
    finally:
        srv.stop()
    # the corporate CA is added to the public ones, not in their place
    public = trust_context(None).cert_store_stats()["x509_ca"]
    combined = trust_context(str(ca_file))
    assert public > 50 and combined.cert_store_stats()["x509_ca"] == public + 1


def test_bearer_token_auth(simulator: SimulatorServer, demo_scenario: Scenario) -> None:
    token = demo_scenario.bearer_tokens[0]
    with SoarClient(simulator.url, BearerAuth(lambda: token)) as client:
        assert isinstance(client.fetch("GetApiKeys"), list)
        assert repr(client) == f"SoarClient({simulator.url!r}, legacy)"
    with SoarClient(simulator.url, BearerAuth(lambda: "expired-token")) as client:
        with pytest.raises(SoarError) as err:
            client.fetch("GetSocRoles")
    assert str(err.value) == "GetSocRoles: HTTP 401 Unauthorized (check the tenant's credentials)"
    assert err.value.status == 401 and err.value.endpoint == "GetSocRoles"


def test_only_read_only_calls(simulator: SimulatorServer) -> None:
    with SoarClient(simulator.url, AppKeyAuth(simulator.app_key)) as client:
        with pytest.raises(ValueError, match="read-only"):
            client.post_json("AddOrUpdateApiKeyRecord", "/settings/addOrUpdateAPIKeyRecord", {})
        page = client.fetch("GetEnvironments", page=0, page_size=2)
        assert len(page["objectsList"]) == 2
    assert all(("GET", "POST")[p.endswith("GetEnvironments")] == m
               for m, p in simulator.request_log)


def test_proxy_from_the_environment(simulator: SimulatorServer, tenant_config: TenantFactory,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # The simulator stands in for a forward proxy: it sees absolute URIs for the real host.
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", simulator.url)
    cfg = tenant_config(simulator, url="http://127.0.0.2:9")
    result = collect_tenant(cfg, NOW)
    assert result.ok, result.error
    assert all(path.startswith("http://127.0.0.2:9/api/") for _, path in simulator.request_log)
