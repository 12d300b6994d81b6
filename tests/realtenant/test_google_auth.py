"""auth: google — a real service-account key (made here), google-auth's own JWT-bearer grant
against a token endpoint on loopback, the token sent as Bearer to the simulator, and refreshed
before it expires."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from auditor.clock import SYSTEM_CLOCK
from auditor.config import Config, TenantConfig, parse_config
from auditor.simulator.server import SimulatorServer
from auditor.soar.auth import ADC_HINT, SCOPES, GoogleAuth, google_provider, load_credentials
from auditor.soar.client import SoarClient, SoarError
from auditor.soar.collect import collect_tenant
from tests.conftest import TEST_NOW
from tests.realtenant.helpers import GOOGLE_TOKEN_URI, TokenServer, make_service_account

NOW = TEST_NOW
TOKENS = ["ya29.test-token-one-0000000000", "ya29.test-token-two-1111111111"]


def _scenario(demo: dict[str, object], tokens: list[str]) -> dict[str, object]:
    return {**demo, "bearer_tokens": tokens}


@pytest.fixture
def google_setup(start_simulator: Callable[..., SimulatorServer], demo_scenario: object,
                 token_server: Callable[..., TokenServer], tmp_path: Path
                 ) -> tuple[SimulatorServer, TokenServer, Path]:
    from auditor.simulator.scenario import Scenario

    assert isinstance(demo_scenario, Scenario)
    tokens = token_server(TOKENS)
    account = make_service_account(tmp_path, tokens.token_uri)
    tokens.state.public_pem = account.public_pem
    sim = start_simulator(_scenario(demo_scenario.to_dict(), TOKENS[:1]))
    return sim, tokens, account.path


def _tenant(sim: SimulatorServer, key_file: Path | None, **extra: object) -> TenantConfig:
    data: dict[str, object] = {"name": "gcp-prod", "url": sim.url, "auth": "google",
                               "timeout_seconds": 5.0, **extra}
    if key_file is not None:
        data["google_credentials_file"] = str(key_file)
    return TenantConfig.model_validate(data)


def _google_and_appkey(sim: SimulatorServer, key_file: Path, tmp_path: Path) -> Config:
    """The same simulated tenant twice: once as a migrated instance (Bearer token from Google
    credentials), once with its AppKey."""
    return parse_config({
        "tenants": [
            {"name": "gcp-prod", "url": sim.url, "auth": "google",
             "google_credentials_file": str(key_file)},
            {"name": "legacy", "url": sim.url, "api_key": sim.app_key},
        ],
        "state": f"sqlite:///{tmp_path}/state.db",
        "reports": {"dir": str(tmp_path / "reports"), "formats": ["json"]},
    })


def test_a_migrated_tenant_is_audited_with_a_service_account_token(
    google_setup: tuple[SimulatorServer, TokenServer, Path],
) -> None:
    sim, tokens, key_file = google_setup
    result = collect_tenant(_tenant(sim, key_file), NOW)
    assert result.ok, result.error
    assert result.auth == "google" and result.inventory is not None
    assert result.inventory.auth == "google" and len(result.inventory.api_keys) == 19
    # google-auth signed a JWT-bearer grant for the service account, scope cloud-platform
    (claims,) = tokens.state.claims
    assert claims["iss"] == "soar-auditor@test-project.iam.gserviceaccount.com"
    assert claims["scope"] == " ".join(SCOPES) == "https://www.googleapis.com/auth/cloud-platform"
    assert claims["aud"] in (GOOGLE_TOKEN_URI, tokens.token_uri)
    assert tokens.state.issued == TOKENS[:1]  # one token for all the tenant's calls
    assert len(sim.request_log) > 10


def test_the_token_is_refreshed_before_it_expires(
    google_setup: tuple[SimulatorServer, TokenServer, Path],
) -> None:
    sim, tokens, key_file = google_setup
    creds, hint = load_credentials(str(key_file))
    now = [SYSTEM_CLOCK.now().replace(tzinfo=None)]
    auth = GoogleAuth(creds, hint=hint, timeout=5, clock=lambda: now[0])
    with SoarClient(sim.url, auth) as client:
        assert len(client.fetch("GetApiKeys")) == 19
        assert len(client.fetch("GetSocRoles")["objectsList"]) == 5  # the same token, still fresh
        assert auth.refreshes == 1 and tokens.state.issued == TOKENS[:1]
        # the server now only accepts a new token: the cached one is refused ...
        sim.set_bearer_tokens(TOKENS[1:])
        with pytest.raises(SoarError) as err:
            client.fetch("GetSocRoles")
        assert str(err.value) == ("GetSocRoles: HTTP 401 Unauthorized "
                                  "(check the tenant's google_credentials_file)")
        # ... until the clock reaches the refresh margin (5 minutes before the hour is up)
        now[0] += timedelta(minutes=54)
        with pytest.raises(SoarError):
            client.fetch("GetSocRoles")
        now[0] += timedelta(minutes=1, seconds=1)
        assert len(client.fetch("GetSocRoles")["objectsList"]) == 5
    assert auth.refreshes == 2 and tokens.state.issued == TOKENS


def test_concurrent_calls_share_one_refresh(
    google_setup: tuple[SimulatorServer, TokenServer, Path],
) -> None:
    _sim, tokens, key_file = google_setup
    tokens.state.delay = 0.1  # a slow token endpoint widens any race
    creds, hint = load_credentials(str(key_file))
    auth = GoogleAuth(creds, hint=hint, timeout=5)
    barrier = threading.Barrier(12)
    seen: list[dict[str, str]] = []

    def call() -> None:
        barrier.wait()
        seen.append(auth.headers())

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tokens.state.issued == TOKENS[:1] and auth.refreshes == 1
    assert seen == [{"Authorization": f"Bearer {TOKENS[0]}"}] * 12


def test_application_default_credentials(
    google_setup: tuple[SimulatorServer, TokenServer, Path], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    sim, _tokens, key_file = google_setup
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    provider = google_provider(_tenant(sim, None))
    assert provider.credential_hint == ADC_HINT
    result = collect_tenant(_tenant(sim, None), NOW)
    assert result.ok, result.error

    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    missing = collect_tenant(_tenant(sim, None), NOW)
    assert missing.error is not None and missing.error.startswith(
        "setup: auth: google without google_credentials_file needs application default "
        "credentials (GOOGLE_APPLICATION_CREDENTIALS, or an attached service account): File ")
    assert missing.auth == "google"


def test_refused_and_unusable_credentials_fail_closed_without_leaking(
    google_setup: tuple[SimulatorServer, TokenServer, Path], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sim, tokens, key_file = google_setup
    tokens.state.error = "invalid_grant"
    refused = collect_tenant(_tenant(sim, key_file), NOW)
    assert refused.error == ("Google token: cannot get an access token (invalid_grant: Account "
                             "disabled.); check the tenant's google_credentials_file")
    assert sim.request_log == []  # nothing reaches the API without a token

    bad = tmp_path / "not-a-key.json"
    bad.write_text(json.dumps({"type": "service_account", "client_email": "x@y"}))
    unusable = collect_tenant(_tenant(sim, bad), NOW)
    assert unusable.error is not None
    assert unusable.error.startswith(f"setup: google_credentials_file {bad}: not usable: ")

    private_key = json.loads(key_file.read_text())["private_key"]
    body = private_key.splitlines()[1]
    texts = [refused.error, unusable.error, caplog.text, repr(google_provider(
        _tenant(sim, key_file)))]
    assert not any(body in t for t in texts)


def test_the_run_says_which_authentication_each_tenant_used(
    google_setup: tuple[SimulatorServer, TokenServer, Path], tmp_path: Path,
) -> None:
    from auditor.pipeline import run_audit

    sim, _tokens, key_file = google_setup
    config = _google_and_appkey(sim, key_file, tmp_path)
    result = run_audit(config, now=NOW, out_dir=tmp_path / "out", notify=False)
    document = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert result.status == "complete"
    assert {t["name"]: t["auth"] for t in document["tenants"]} == {
        "gcp-prod": "google", "legacy": "appkey"}


def test_group_findings_of_a_migrated_tenant_say_iam_replaces_groups(
    google_setup: tuple[SimulatorServer, TokenServer, Path], tmp_path: Path,
) -> None:
    """End to end: the same tenant data reached with a Bearer token (google) and with an AppKey
    gives the same verdicts; only the google tenant's permission-group findings carry the note."""
    from auditor.engine.evaluate import MIGRATED_NOTE
    from auditor.pipeline import run_audit

    sim, tokens, key_file = google_setup
    config = _google_and_appkey(sim, key_file, tmp_path)
    result = run_audit(config, now=NOW, out_dir=tmp_path / "out", notify=False)
    # the google tenant got its token and was read with it (the simulator accepts that Bearer)
    assert result.status == "complete" and tokens.state.issued == TOKENS[:1]
    findings = json.loads((tmp_path / "out" / "findings.json").read_text())["findings"]
    group_rules = {"SOAR-ENV-001", "SOAR-ENV-002", "SOAR-PG-001", "SOAR-PG-002"}
    by_tenant: dict[str, dict[tuple[str, object], dict[str, object]]] = {}
    for f in findings:
        by_tenant.setdefault(f["tenant"], {})[(f["rule_id"], f["resource"]["id"])] = f
    google, legacy = by_tenant["gcp-prod"], by_tenant["legacy"]
    assert google.keys() == legacy.keys()
    assert group_rules <= {rule for rule, _ in google}  # the demo tenant fires all four
    for ident, finding in google.items():
        evidence = finding["evidence"]
        assert isinstance(evidence, dict)
        if ident[0] in group_rules:
            assert evidence["auth"] == "google" and evidence["note"] == MIGRATED_NOTE
        else:
            assert "auth" not in evidence and "note" not in evidence
        assert finding["status"] == legacy[ident]["status"]
    assert not any("note" in f["evidence"] for f in legacy.values())
