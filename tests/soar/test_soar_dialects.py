"""SOC roles in both dialects, over real loopback HTTP: Google's paged POST (its own client code),
the bare-array GET (a third-party SDK), a tenant answering both, and one answering neither."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditor.capture import REPLAY_APP_KEY, capture_tenant
from auditor.config import Config, TenantConfig, parse_config
from auditor.doctor import check_tenant
from auditor.pipeline import exit_code_for, run_audit
from auditor.result import RunResult
from auditor.simulator.scenario import Scenario
from auditor.simulator.server import SimulatorServer
from auditor.soar.collect import collect_tenant
from tests.conftest import TEST_NOW

StartSimulator = Callable[..., SimulatorServer]
TenantFactory = Callable[..., TenantConfig]
ROLE_RULES = ("SOAR-ROLE-001", "SOAR-ROLE-002")


def _tenant(demo_scenario: Scenario, socroles: str, **extra: Any) -> dict[str, Any]:
    data = demo_scenario.to_dict()
    data.update(socroles=socroles, max_page_size=2, **extra)  # 5 roles: three pages of POST
    return data


def _config(sim: SimulatorServer, folder: Path, api_key: str | None = None) -> Config:
    return parse_config({
        "tenants": [{"name": "acme-prod", "url": sim.url, "api_key": api_key or sim.app_key,
                     "timeout_seconds": 5}],
        "state": f"sqlite:///{folder}/state.db",
        "reports": {"dir": str(folder), "formats": ["json"]},
    })


def _audit(sim: SimulatorServer, folder: Path, api_key: str | None = None) -> RunResult:
    return run_audit(_config(sim, folder, api_key), now=TEST_NOW, out_dir=folder / "out",
                     notify=False)


def _roles_verdicts(result: RunResult) -> list[tuple[str, str, Any, str]]:
    return sorted((f.id, f.rule_id, f.resource.id, f.status) for f in result.findings
                  if f.rule_id in ROLE_RULES)


def _role_requests(sim: SimulatorServer) -> list[tuple[str, str]]:
    return [(m, p.lower()) for m, p in sim.request_log if "socroles" in p.lower()]


@pytest.mark.parametrize("socroles", ["post", "get", "both"])
def test_every_dialect_reads_every_role_and_gives_the_same_verdicts(
    socroles: str, demo_scenario: Scenario, start_simulator: StartSimulator,
    tenant_config: TenantFactory, tmp_path: Path,
) -> None:
    sim = start_simulator(_tenant(demo_scenario, socroles))
    result = collect_tenant(tenant_config(sim), TEST_NOW)
    assert result.ok, result.error
    inv = result.inventory
    assert inv is not None
    assert [r.name for r in inv.soc_roles] == [
        "Administrator", "Tier 1", "Tier 2", "Automation", "Read Only"]
    answered = "get" if socroles == "get" else "post"
    assert inv.dialects == (("GetSocRoles", answered),)
    requests = _role_requests(sim)
    if socroles == "get":  # the POST is tried first, answers 405, then the GET answers
        assert requests == [("POST", "/api/external/v1/socroles/getsocroles"),
                            ("GET", "/api/external/v1/socroles/getsocroles")]
    else:  # Google's form answers: every page of it, never the GET
        assert sorted(requests) == [("POST", "/api/external/v1/socroles/getsocroles")] * 3

    # the same role verdicts as the POST-only demo tenant, and the dialect in inventory.json
    reference = _audit(start_simulator(_tenant(demo_scenario, "post")), tmp_path / "ref")
    audited = _audit(sim, tmp_path / "audit")
    assert _roles_verdicts(audited) == _roles_verdicts(reference) != []
    stored = json.loads((tmp_path / "audit" / "out" / "inventory.json").read_text())
    assert stored["acme-prod"]["dialects"] == {"GetSocRoles": answered}


def test_a_tenant_answering_neither_dialect_fails_closed_naming_both_answers(
    demo_scenario: Scenario, start_simulator: StartSimulator, tenant_config: TenantFactory,
    tmp_path: Path,
) -> None:
    sim = start_simulator(_tenant(demo_scenario, "both",
                                  faults=[{"endpoint": "GetSocRoles", "status": 404}]))
    result = collect_tenant(tenant_config(sim), TEST_NOW)
    assert result.error == (
        "GetSocRoles: no dialect answered (POST socroles/getSocRoles: HTTP 404 Not Found; "
        "GET socroles/GetSocRoles: HTTP 404 Not Found)")
    audit = _audit(sim, tmp_path)
    assert audit.status == "failed" and exit_code_for(audit, None) == 3
    (finding,) = [f for f in audit.findings if f.rule_id == "SOAR-AUDIT-001"]
    assert "GetSocRoles: no dialect answered" in finding.message


def test_a_post_that_fails_otherwise_is_not_retried_as_get(
    demo_scenario: Scenario, start_simulator: StartSimulator, tenant_config: TenantFactory,
) -> None:
    # 401 is about the credential, not the dialect: no fallback, one line
    sim = start_simulator(_tenant(demo_scenario, "both",
                                  faults=[{"endpoint": "GetSocRoles", "status": 500}]))
    result = collect_tenant(tenant_config(sim), TEST_NOW)
    assert result.error is not None and result.error.startswith("GetSocRoles: HTTP 500")
    assert all(m == "POST" for m, _ in _role_requests(sim))


@pytest.mark.parametrize("socroles", ["post", "get"])
def test_capture_and_replay_keep_the_dialect_and_the_fingerprints(
    socroles: str, demo_scenario: Scenario, start_simulator: StartSimulator,
    tenant_config: TenantFactory, tmp_path: Path,
) -> None:
    live_sim = start_simulator(_tenant(demo_scenario, socroles))
    live = _audit(live_sim, tmp_path / "live")
    capture, text = capture_tenant(tenant_config(live_sim), now=TEST_NOW)
    assert capture.scenario["socroles"] == socroles
    file = tmp_path / "capture.yaml"
    file.write_text(text, encoding="utf-8")
    replay_sim = start_simulator(file)
    replay = _audit(replay_sim, tmp_path / "replay", api_key=REPLAY_APP_KEY)
    assert sorted(f.id for f in replay.findings) == sorted(f.id for f in live.findings)
    assert replay.inventories["acme-prod"].dialects == (("GetSocRoles", socroles),)
    if socroles == "get":  # the replay answers the GET only, as the live tenant did
        assert ("GET", "/api/external/v1/socroles/getsocroles") in _role_requests(replay_sim)


@pytest.mark.parametrize(("socroles", "line"), [
    ("post", "OK   acme-prod: GetSocRoles: 2 SOC role(s) (dialect POST socroles/getSocRoles), "
             "shape as expected"),
    ("get", "OK   acme-prod: GetSocRoles: 5 SOC role(s) (dialect GET socroles/GetSocRoles; "
            "POST socroles/getSocRoles: HTTP 405), shape as expected"),
])
def test_doctor_names_the_dialect_that_answered(
    socroles: str, line: str, demo_scenario: Scenario, start_simulator: StartSimulator,
    tenant_config: TenantFactory,
) -> None:
    sim = start_simulator(_tenant(demo_scenario, socroles))
    lines: list[str] = []
    assert check_tenant(tenant_config(sim), lambda c: lines.append(c.line()))
    assert line in lines
