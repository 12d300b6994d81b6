"""The Chronicle API and IAM surfaces over real loopback HTTP, with the real google-auth: a
service-account key made at run time, the simulator's OAuth token endpoint, page tokens, Google's
error envelope, a tenant with both surfaces and one with the Chronicle surface only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditor.config import TenantConfig
from auditor.doctor import check_tenant
from auditor.pipeline import exit_code_for, run_audit
from auditor.simulator.scenario import Scenario
from auditor.simulator.server import SimulatorServer
from auditor.soar.collect import collect_tenant
from auditor.soar.models import IamCondition
from tests.conftest import TEST_NOW

StartSimulator = Callable[..., SimulatorServer]
TenantFactory = Callable[..., TenantConfig]


def key_file(sim: SimulatorServer, folder: Path) -> Path:
    """The simulator's service-account key, written where google-auth reads it."""
    path = folder / "sa.json"
    path.write_text(json.dumps(sim.service_account_info()), encoding="utf-8")
    return path


def chronicle_block(sim: SimulatorServer, folder: Path, **extra: Any) -> dict[str, Any]:
    spec = sim.scenario.chronicle
    assert spec is not None
    return {"project": spec.project, "location": spec.location, "instance": spec.instance,
            "endpoint": sim.url, "iam_endpoint": sim.url,
            "google_credentials_file": str(key_file(sim, folder)), **extra}


def _scenario(demo_scenario: Scenario, **changes: Any) -> dict[str, Any]:
    data = demo_scenario.to_dict()
    chron = dict(data["chronicle"])
    chron.update(changes.pop("chronicle", {}))
    data.update(chronicle=chron, **changes)
    return data


def test_both_surfaces_in_one_tenant(
    demo_scenario: Scenario, start_simulator: StartSimulator, tenant_config: TenantFactory,
    tmp_path: Path,
) -> None:
    sim = start_simulator(_scenario(demo_scenario, chronicle={"max_page_size": 2}))
    tenant = tenant_config(sim, chronicle=chronicle_block(sim, tmp_path))
    result = collect_tenant(tenant, TEST_NOW)
    assert result.ok, result.error
    inv = result.inventory
    assert inv is not None
    assert inv.surfaces == ("legacy", "chronicle", "iam") and inv.iam_project == "acme-secops"
    # API keys, environments and roles from the legacy API; mappings, users, IAM from Google's
    assert len(inv.api_keys) == 19 and len(inv.soc_roles) == 5
    assert [m.display_name for m in inv.mappings] == [
        "SOC Analysts", "Automation service accounts", "Default", "Legacy SIEM connector",
        "Read-only auditors"]
    automation = inv.mappings[1]
    assert automation.members == ("serviceAccount:soar-sync@acme-secops.iam.gserviceaccount.com",)
    assert automation.machine_members == automation.members and automation.is_wildcard
    assert inv.mappings[2].default_mapping and inv.mappings[3].soc_role_ids == (99,)
    assert [u.email for u in inv.users] == ["ana@acme.example", "admin@acme.example"]
    assert inv.users[0].environments == ("Acme HQ",) and inv.users[1].has_all_environments
    editor = next(b for b in inv.iam_bindings if b.role == "roles/chronicle.admin")
    assert editor.condition == IamCondition(
        'request.time < timestamp("2027-01-01T00:00:00Z")', "until-2027", None)
    # page tokens to the end: 5 mappings at 2 per page are 3 pages, users 1
    pages = [p for m, p in sim.request_log if "legacySoarIdpMappingGroups" in p]
    assert len(pages) == 3 and "pageToken" not in pages[0] and "pageToken=" in pages[2]
    # IAM: policy version 3 was asked for, with a Bearer token from the token endpoint
    assert ("POST", "/v3/projects/acme-secops:getIamPolicy") in sim.request_log
    assert sim.tokens_issued == 1  # one token, shared by the Chronicle and IAM calls


def test_a_chronicle_only_tenant(
    demo_scenario: Scenario, start_simulator: StartSimulator, tmp_path: Path,
) -> None:
    sim = start_simulator(_scenario(demo_scenario, chronicle={"legacy": False}))
    tenant = TenantConfig.model_validate({"name": "acme-gcp", "timeout_seconds": 5,
                                          "chronicle": chronicle_block(sim, tmp_path)})
    result = collect_tenant(tenant, TEST_NOW)
    assert result.ok, result.error
    inv = result.inventory
    assert inv is not None and inv.surfaces == ("chronicle", "iam") and inv.auth == "google"
    assert inv.api_keys == () and inv.system_version == "6.3.47.0"
    assert [e.name for e in inv.environments][:2] == ["Default Environment", "Acme HQ"]
    assert {r.id: r.name for r in inv.soc_roles}[1] == "Administrator"
    assert {g.id for g in inv.permission_groups} == set(range(1, 9))
    assert len(inv.mappings) == 5 and len(inv.iam_bindings) == 6
    assert not any(p.startswith("/api/external") for _m, p in sim.request_log)
    # the legacy API is not served here: a legacy call would be a 404
    assert all("/v1/" in p or "/v1alpha/" in p or "/v3/" in p or p == "/token"
               for _m, p in sim.request_log)


def test_a_403_on_one_list_call_names_the_permission_and_exits_3(
    demo_scenario: Scenario, start_simulator: StartSimulator, tenant_config: TenantFactory,
    tmp_path: Path,
) -> None:
    sim = start_simulator(_scenario(
        demo_scenario, faults=[{"endpoint": "ListSoarUsers", "status": 403}]))
    tenant = tenant_config(sim, chronicle=chronicle_block(sim, tmp_path))
    result = collect_tenant(tenant, TEST_NOW)
    assert result.error == (
        "ListSoarUsers: HTTP 403 Forbidden (check the tenant's "
        "chronicle.google_credentials_file); missing permission chronicle.legacySoarUsers.list: "
        "PERMISSION_DENIED: Permission 'chronicle.legacySoarUsers.list' denied on resource (or "
        "it may not exist).")
    config = _config(tmp_path, tenant)
    audit = run_audit(config, now=TEST_NOW, out_dir=tmp_path / "out", notify=False)
    assert exit_code_for(audit, None) == 3
    (finding,) = [f for f in audit.findings if f.rule_id == "SOAR-AUDIT-001"]
    assert "chronicle.legacySoarUsers.list" in finding.message


def test_optional_permission_groups_and_a_missing_version_do_not_fail_the_tenant(
    demo_scenario: Scenario, start_simulator: StartSimulator, tmp_path: Path,
) -> None:
    sim = start_simulator(_scenario(demo_scenario, chronicle={"legacy": False}, faults=[
        {"endpoint": "ListSoarPermissionGroups", "status": 404},
        {"endpoint": "LegacyGetSystemVersion", "status": 503}]))
    tenant = TenantConfig.model_validate({"name": "acme-gcp", "timeout_seconds": 5,
                                          "chronicle": chronicle_block(sim, tmp_path)})
    result = collect_tenant(tenant, TEST_NOW)
    assert result.ok and result.inventory is not None
    assert result.inventory.permission_groups == () and result.inventory.system_version is None
    assert {d.endpoint for d in result.inventory.drift} >= {
        "ListSoarPermissionGroups", "LegacyGetSystemVersion"}


def test_an_unusable_service_account_fails_the_tenant_in_one_line(
    demo_scenario: Scenario, start_simulator: StartSimulator, tenant_config: TenantFactory,
    tmp_path: Path,
) -> None:
    sim = start_simulator(demo_scenario)
    other = start_simulator(demo_scenario)  # its key is not the one sim trusts
    block = chronicle_block(other, tmp_path)
    block.update(endpoint=sim.url, iam_endpoint=sim.url,
                 token_uri=f"{sim.url}/token")
    sim.service_account_info()  # sim has an account of its own
    result = collect_tenant(tenant_config(sim, chronicle=block), TEST_NOW)
    assert result.error is not None
    assert result.error.startswith("Google token: cannot get an access token (invalid_grant")


def test_doctor_checks_the_token_each_list_call_and_iam(
    demo_scenario: Scenario, start_simulator: StartSimulator, tenant_config: TenantFactory,
    tmp_path: Path,
) -> None:
    sim = start_simulator(_scenario(
        demo_scenario, faults=[{"endpoint": "GetIamPolicy", "status": 403}]))
    lines: list[str] = []
    ok = check_tenant(tenant_config(sim, chronicle=chronicle_block(sim, tmp_path)),
                      lambda c: lines.append(c.line()))
    assert not ok
    assert "OK   acme-prod: chronicle auth: google-auth obtained an access token" in lines
    assert ("OK   acme-prod: ListIdpMappingGroups: 5 Group Mapping entr(ies) on the first page, "
            "shape as expected") in lines
    assert any(line.startswith("FAIL acme-prod: GetIamPolicy: HTTP 403 Forbidden")
               and "missing permission resourcemanager.projects.getIamPolicy" in line
               and "Fix: grant the auditor's service account" in line for line in lines)


def _config(folder: Path, tenant: TenantConfig) -> Any:
    from auditor.config import parse_config

    data = tenant.model_dump(mode="json", exclude_none=True)
    data["api_key"] = tenant.api_key.get_secret_value() if tenant.api_key else None
    return parse_config({"tenants": [{k: v for k, v in data.items() if v is not None}],
                         "state": f"sqlite:///{folder}/state.db",
                         "reports": {"dir": str(folder), "formats": ["json"]}})


@pytest.fixture(autouse=True)
def _no_google_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_capture_and_replay_of_both_surfaces_and_anonymized_members(
    demo_scenario: Scenario, start_simulator: StartSimulator, tenant_config: TenantFactory,
    tmp_path: Path,
) -> None:
    from auditor.capture import REPLAY_APP_KEY, capture_tenant
    from auditor.simulator.scenario import load_scenario

    live_sim = start_simulator(demo_scenario)
    live_tenant = tenant_config(live_sim, chronicle=chronicle_block(live_sim, tmp_path))
    live = run_audit(_config(tmp_path / "live", live_tenant), now=TEST_NOW,
                     out_dir=tmp_path / "live" / "out", notify=False)
    _capture, text = capture_tenant(live_tenant, now=TEST_NOW)
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    replay_sim = start_simulator(tmp_path / "c.yaml")
    folder = tmp_path / "replay"
    folder.mkdir()
    replay_tenant = tenant_config(replay_sim, api_key=REPLAY_APP_KEY,
                                  chronicle=chronicle_block(replay_sim, folder))
    replay = run_audit(_config(folder, replay_tenant), now=TEST_NOW, out_dir=folder / "out",
                       notify=False)
    assert live.inventories["acme-prod"].mappings == replay.inventories["acme-prod"].mappings
    assert live.inventories["acme-prod"].iam_bindings == \
        replay.inventories["acme-prod"].iam_bindings
    assert sorted(f.id for f in replay.findings) == sorted(f.id for f in live.findings)

    capture, anonymous = capture_tenant(live_tenant, now=TEST_NOW, anonymize=True)
    for original in ("soc-analysts@acme.example", "soar-sync@", "auditor@acme.example",
                     "ana@acme.example", "cto@acme.example", "SOC Analysts"):
        assert original not in anonymous
    scenario = load_scenario(tmp_path / "c.yaml")  # the plain capture is a valid scenario too
    assert scenario.chronicle is not None and scenario.chronicle.project == "acme-secops"
    members = [m for r in capture.scenario["idp_mappings"] for m in r["groupMembers"]]
    machine = [m for m in members
               if "gserviceaccount.com" in json.dumps(m) or "principal://" in json.dumps(m)]
    assert len(machine) == 2  # still machine identities after pseudonymization


def test_unread_permission_groups_make_dangling_group_checks_unknown_not_failing(
    demo_scenario: Scenario, start_simulator: StartSimulator, tmp_path: Path,
) -> None:
    sim = start_simulator(_scenario(demo_scenario, chronicle={"legacy": False}, faults=[
        {"endpoint": "ListSoarPermissionGroups", "status": 404}]))
    tenant = TenantConfig.model_validate({"name": "acme-gcp", "timeout_seconds": 5,
                                          "chronicle": chronicle_block(sim, tmp_path)})
    audit = run_audit(_config(tmp_path, tenant), now=TEST_NOW, out_dir=tmp_path / "out",
                      notify=False)
    assert audit.inventories["acme-gcp"].unread == ("permission_groups",)
    map3 = {f.resource.name: f.status for f in audit.findings if f.rule_id == "SOAR-MAP-003"}
    # "SOC Analysts" names group 2: not known to be missing; "Legacy SIEM connector" names
    # role 99, which the roles that were read show to be missing
    assert map3["SOC Analysts"] == "unknown"
    assert map3["Legacy SIEM connector"] == "fail"
