"""`soar-auditor doctor`: every failure kind gets one line with its fix, tested word for word
(ports of the loopback servers and the temporary folder are the only parts replaced)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from auditor.cli import main
from auditor.simulator.server import SimulatorServer
from tests.notify.fakeslack import FakeSlack
from tests.realtenant.conftest import HttpsSimulator
from tests.realtenant.helpers import (
    ConnectProxy,
    TokenServer,
    closed_port,
    make_service_account,
)

Doctor = Callable[..., tuple[int, str]]


def without_secret_warnings(output: str) -> str:
    """These configurations write the simulator's key (and Slack's) into the file: loading warns
    about each literal secret (README, Configuration). The lines under test are the others."""
    return "".join(line for line in output.splitlines(keepends=True)
                   if "a secret written into the file (accepted)" not in line)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def doctor(tmp_path: Path) -> Doctor:
    """doctor(tenants, slack=None, state=None, ports={...}) -> (exit code, output with ports
    and the temporary folder replaced by PORT-like names)."""

    def run(tenants: list[dict[str, Any]], *, slack: dict[str, Any] | None = None,
            state: str | None = None, ports: dict[int, str] | None = None) -> tuple[int, str]:
        config: dict[str, Any] = {
            "tenants": [{"timeout_seconds": 3, **t} for t in tenants],
            "state": state or f"sqlite:///{tmp_path}/state/state.db",
        }
        if slack is not None:
            config["slack"] = slack
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        result = CliRunner().invoke(main, ["doctor", "--config", str(path)])
        output = without_secret_warnings(result.output).replace(str(tmp_path), "TMP")
        for port, name in sorted((ports or {}).items(), key=lambda p: -len(str(p[0]))):
            output = output.replace(f":{port}", f":{name}").replace(f"port {port}",
                                                                     f"port {name}")
        return result.exit_code, output

    return run


def _tenant(sim: SimulatorServer, **extra: Any) -> dict[str, Any]:
    return {"name": "acme-prod", "url": sim.url, "api_key": sim.app_key, **extra}


DEMO_API = """\
OK   acme-prod: auth: accepted (AppKey); GetSystemVersion: 6.3.47.0
OK   acme-prod: GetApiKeys: 19 API key(s)
WARN acme-prod: GetApiKeys: description: unknown field, ignored
OK   acme-prod: GetEnvironments: 4 environment(s) on page 1 of 1
WARN acme-prod: GetEnvironments: aliases: unknown field, ignored
OK   acme-prod: GetPermissionsGroupCards: 8 permission group(s), shape as expected
OK   acme-prod: GetPermissionGroup: All Environments state of group 1 (Admins) read from \
GetAllEnvironmentStatus
OK   acme-prod: GetSocRoles: 5 SOC role(s) (dialect POST socroles/getSocRoles), shape as expected
"""
NO_SLACK = "INFO slack: config: not configured: no alerts are sent\n"
STATE_NEW = "OK   state: store: TMP/state/state.db does not exist yet; the first audit creates it\n"


def test_all_is_well(doctor: Doctor, https_simulator: HttpsSimulator, ca_file: Path,
                     slack: FakeSlack) -> None:
    sim = https_simulator("good")
    code, out = doctor(
        [_tenant(sim, ca_bundle=str(ca_file))],
        slack={"bot_token": slack.token, "channel": "#soc", "api_base_url": slack.api_url,
               "routes": [{"tenant": "acme-*", "webhook_url": slack.webhook_url()}]},
        ports={sim.port: "SIM", slack.port: "SLACK"},
    )
    assert out == (
        "OK   acme-prod: DNS: 127.0.0.1 resolves to 127.0.0.1\n"
        "OK   acme-prod: connect: 127.0.0.1 accepts connections on port SIM\n"
        "OK   acme-prod: TLS: the certificate of 127.0.0.1 is trusted (TLSv1.3)\n"
        + DEMO_API +
        "OK   slack: bot token: accepted by auth.test (bot user soar-auditor)\n"
        "INFO slack: webhook: 1 webhook URL(s) cannot be checked without posting; "
        "`soar-auditor notify --test --config FILE` posts a test message\n"
        + STATE_NEW +
        "doctor: no problem found (2 warning(s))\n"
    )
    assert code == 0
    assert [r.endpoint for r in slack.requests] == ["auth.test"]  # nothing was posted


def test_dns_failure(doctor: Doctor) -> None:
    code, out = doctor([{"name": "acme-prod", "url": "https://soar.invalid", "api_key": "k-1234"}])
    assert out == (
        "FAIL acme-prod: DNS: cannot resolve the host name soar.invalid. Fix: check the host "
        "name in the url (and the DNS settings of this machine)\n"
        "SKIP acme-prod: API: not checked (the steps above failed)\n"
        + NO_SLACK + STATE_NEW +
        "doctor: 1 problem(s), 0 warning(s)\n"
    )
    assert code == 1


def test_connection_refused(doctor: Doctor) -> None:
    port = closed_port()
    code, out = doctor([{"name": "acme-prod", "url": f"https://127.0.0.1:{port}",
                         "api_key": "k-1234"}], ports={port: "CLOSED"})
    assert out == (
        "OK   acme-prod: DNS: 127.0.0.1 resolves to 127.0.0.1\n"
        "FAIL acme-prod: connect: 127.0.0.1 refused the connection on port CLOSED. Fix: check "
        "the port in the url (the SOAR API listens on 443) and that the server is up\n"
        "SKIP acme-prod: API: not checked (the steps above failed)\n"
        + NO_SLACK + STATE_NEW +
        "doctor: 1 problem(s), 0 warning(s)\n"
    )
    assert code == 1


PATH_OK = ("OK   acme-prod: DNS: 127.0.0.1 resolves to 127.0.0.1\n"
           "OK   acme-prod: connect: 127.0.0.1 accepts connections on port SIM\n")
SKIPPED = "SKIP acme-prod: API: not checked (the steps above failed)\n"


@pytest.mark.parametrize(
    ("kind", "bundle", "line"),
    [
        ("good", False,
         "FAIL acme-prod: TLS: the certificate of 127.0.0.1 is issued by a CA this machine does "
         "not trust (unable to get local issuer certificate). Fix: put the issuing CA "
         "certificate (PEM) in the tenant's ca_bundle"),
        ("self_signed", False,
         "FAIL acme-prod: TLS: the certificate of 127.0.0.1 is self-signed (self-signed "
         "certificate). Fix: add that certificate (PEM) to the tenant's ca_bundle if it is the "
         "right one, or give the server a certificate from a trusted CA"),
        ("expired", True,
         "FAIL acme-prod: TLS: the certificate of 127.0.0.1 has expired (certificate has "
         "expired). Fix: the certificate must be renewed on the server; ca_bundle cannot make "
         "an expired certificate valid"),
        ("wrong_host", True,
         "FAIL acme-prod: TLS: the certificate of 127.0.0.1 is not issued for 127.0.0.1 (IP "
         "address mismatch, certificate is not valid for '127.0.0.1'). Fix: use the host name "
         "the certificate names in the tenant url, or have the certificate reissued for "
         "127.0.0.1"),
    ],
    ids=["untrusted", "self_signed", "expired", "wrong_host"],
)
def test_certificate_problems(doctor: Doctor, https_simulator: HttpsSimulator, ca_file: Path,
                              kind: str, bundle: bool, line: str) -> None:
    sim = https_simulator(kind)
    extra = {"ca_bundle": str(ca_file)} if bundle else {}
    code, out = doctor([_tenant(sim, **extra)], ports={sim.port: "SIM"})
    assert out == (PATH_OK + line + "\n" + SKIPPED + NO_SLACK + STATE_NEW
                   + "doctor: 1 problem(s), 0 warning(s)\n")
    assert code == 1


def test_wrong_api_key(doctor: Doctor, simulator: SimulatorServer) -> None:
    code, out = doctor([_tenant(simulator, api_key="not-the-key")], ports={simulator.port: "SIM"})
    assert out == (
        PATH_OK +
        "FAIL acme-prod: auth: GetSystemVersion answered HTTP 401 Unauthorized. Fix: check "
        "api_key: it must be a key listed in Settings > Advanced > API keys of this tenant\n"
        + NO_SLACK + STATE_NEW +
        "doctor: 1 problem(s), 0 warning(s)\n"
    )
    assert code == 1


def test_wrong_shape(doctor: Doctor, simulator: SimulatorServer) -> None:
    simulator.set_faults([{"endpoint": "GetApiKeys", "body": "wrong_shape"}])
    code, out = doctor([_tenant(simulator)], ports={simulator.port: "SIM"})
    expected_api = DEMO_API.replace(
        "OK   acme-prod: GetApiKeys: 19 API key(s)\n"
        "WARN acme-prod: GetApiKeys: description: unknown field, ignored\n",
        "FAIL acme-prod: GetApiKeys: expected a JSON array of API key records, got an object. "
        "Fix: the audit cannot read this answer; please report it: `soar-auditor capture "
        "--config FILE --tenant acme-prod --anonymize --out acme-prod.yaml` records a "
        "secret-free copy to attach\n")
    assert out == (PATH_OK + expected_api + NO_SLACK + STATE_NEW
                   + "doctor: 1 problem(s), 1 warning(s)\n")
    assert code == 1


def test_slack_auth_failed(doctor: Doctor, simulator: SimulatorServer, slack: FakeSlack) -> None:
    code, out = doctor(
        [_tenant(simulator)],
        slack={"bot_token": "xox" "b-revoked-0000", "channel": "#soc",
               "api_base_url": slack.api_url},
        ports={simulator.port: "SIM"},
    )
    assert out == (
        PATH_OK + DEMO_API +
        "FAIL slack: bot token: Slack refused the request (HTTP 200, invalid_auth). Fix: check "
        "slack.bot_token: a bot token (xoxb-...) of an app installed in the workspace (behind "
        "TLS inspection also slack.ca_bundle)\n"
        + STATE_NEW +
        "doctor: 1 problem(s), 2 warning(s)\n"
    )
    assert code == 1
    assert "xox" "b-revoked-0000" not in out


def test_store_unreachable(doctor: Doctor, simulator: SimulatorServer) -> None:
    code, out = doctor([_tenant(simulator)], state="postgresql://auditor@127.0.0.1:1/soar",
                       ports={simulator.port: "SIM"})
    assert out == (
        PATH_OK + DEMO_API + NO_SLACK +
        "FAIL state: store: cannot open the state store postgresql+psycopg://auditor@127.0.0.1:1"
        "/soar: connection failed: connection to server at \"127.0.0.1\", port 1 failed: "
        "Connection refused. Fix: check state: in the configuration: the database must be "
        "reachable from here, and its user allowed to connect and create tables\n"
        "doctor: 1 problem(s), 2 warning(s)\n"
    )
    assert code == 1


def test_an_existing_store_and_a_proxy(doctor: Doctor, https_simulator: HttpsSimulator,
                                       ca_file: Path, proxy: ConnectProxy, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor.state import open_store

    open_store(f"sqlite:///{tmp_path}/state/state.db").close()
    sim = https_simulator("good")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    proxy_port = int(proxy.url.rsplit(":", 1)[1])
    code, out = doctor([_tenant(sim, ca_bundle=str(ca_file))],
                       ports={sim.port: "SIM", proxy_port: "PROXY"})
    assert out == (
        "INFO acme-prod: proxy: 127.0.0.1 is reached through the proxy 127.0.0.1:PROXY "
        "(HTTPS_PROXY; NO_PROXY does not exclude it)\n"
        "OK   acme-prod: proxy DNS: 127.0.0.1 resolves to 127.0.0.1\n"
        "OK   acme-prod: proxy connect: 127.0.0.1 accepts connections on port PROXY\n"
        "OK   acme-prod: TLS: the certificate of 127.0.0.1 is trusted (TLSv1.3)\n"
        + DEMO_API + NO_SLACK +
        "OK   state: store: sqlite:///TMP/state/state.db opened; no audit yet\n"
        "doctor: no problem found (2 warning(s))\n"
    )
    assert code == 0
    assert set(proxy.connects) == {f"127.0.0.1:{sim.port}"}


def test_a_bad_config_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("tenants: []\n")
    result = CliRunner().invoke(main, ["doctor", "--config", str(path)])
    assert result.exit_code == 2
    assert "tenants: List should have at least 1 item" in result.output
    path.write_text(yaml.safe_dump({"tenants": [{"name": "a", "url": "https://a.invalid",
                                                 "api_key": "k-1234"}]}))
    result = CliRunner().invoke(main, ["doctor", "--config", str(path), "--tenant", "b"])
    assert result.exit_code == 2
    assert without_secret_warnings(result.output) == (
        f"soar-auditor: --tenant: no tenant named b in {path}\n")


def test_google_credentials(doctor: Doctor, start_simulator: Callable[..., SimulatorServer],
                            demo_scenario: Any, token_server: Callable[..., TokenServer],
                            tmp_path: Path) -> None:
    tokens = token_server(["ya29.doctor-token-0000000000"])
    account = make_service_account(tmp_path, tokens.token_uri)
    tokens.state.public_pem = account.public_pem
    sim = start_simulator({**demo_scenario.to_dict(),
                           "bearer_tokens": ["ya29.doctor-token-0000000000"]})
    tenant = {"name": "acme-prod", "url": sim.url, "auth": "google",
              "google_credentials_file": str(account.path)}
    code, out = doctor([tenant], ports={sim.port: "SIM"})
    assert out == (
        PATH_OK
        + DEMO_API.replace("accepted (AppKey)", "accepted (Google token)").replace(
            "6.3.47.0\n", "6.3.47.0\nINFO acme-prod: auth: migrated instance: IAM replaces "
            "permission groups; rules about groups judge the legacy groups that the API still "
            "lists\n")
        + NO_SLACK + STATE_NEW + "doctor: no problem found (2 warning(s))\n"
    )
    assert code == 0

    tokens.state.error = "invalid_grant"
    code, out = doctor([tenant], ports={sim.port: "SIM"})
    assert out == (
        PATH_OK +
        "FAIL acme-prod: auth: cannot get an access token (invalid_grant: Account disabled.); "
        "check the tenant's google_credentials_file. Fix: check google_credentials_file (a "
        "service-account key of the project of the SecOps instance) or the application "
        "default credentials\n"
        + NO_SLACK + STATE_NEW + "doctor: 1 problem(s), 0 warning(s)\n"
    )
    assert code == 1


def test_slack_through_a_proxy_with_its_own_ca_bundle(
    ca: Any, ca_file: Path, proxy: ConnectProxy, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from auditor.config import SlackConfig
    from auditor.doctor import Check, check_slack
    from tests.realtenant.conftest import server_context

    with FakeSlack(server_context(ca.issue_cert("127.0.0.1"))) as fake:
        def slack(**extra: Any) -> tuple[bool, list[str]]:
            lines: list[Check] = []
            config = SlackConfig(bot_token=fake.token, channel="#soc",
                                 api_base_url=fake.api_url, **extra)
            ok = check_slack(config, lines.append)
            return ok, [c.line() for c in lines]

        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        ok, lines = slack()
        assert not ok and lines[0].startswith("FAIL slack: bot token: cannot reach Slack: ")
        assert slack(ca_bundle=str(ca_file)) == (
            True, ["OK   slack: bot token: accepted by auth.test (bot user soar-auditor)"])
        assert set(proxy.connects) == {f"127.0.0.1:{fake.port}"}
        proxy.connects.clear()
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert slack(ca_bundle=str(ca_file))[0] and proxy.connects == []
