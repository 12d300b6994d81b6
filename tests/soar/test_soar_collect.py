"""collect_tenant / collect_all against the simulator over real loopback HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from auditor.clock import FixedClock
from auditor.config import TenantConfig
from auditor.simulator.scenario import Scenario
from auditor.simulator.server import SimulatorServer
from auditor.soar.collect import collect_all, collect_tenant
from tests.conftest import TEST_NOW

NOW = TEST_NOW  # the simulators' clock (conftest): keys are exactly as old as the scenario says
TenantFactory = Callable[..., TenantConfig]


def test_demo_tenant_every_variant(simulator: SimulatorServer,
                                   tenant_config: TenantFactory) -> None:
    result = collect_tenant(tenant_config(simulator), NOW)
    assert result.ok and result.error is None and result.auth == "appkey"
    inv = result.inventory
    assert inv is not None
    assert inv.tenant == "acme-prod" and inv.collected_at == NOW
    assert inv.system_version == "6.3.47.0"
    assert [e.name for e in inv.environments] == [
        "Default Environment", "Acme HQ", "Acme EU", "Acme APAC"]
    assert all(e.created_at is None for e in inv.environments)
    groups = {g.id: (g.all_environments, g.all_environments_source) for g in inv.permission_groups}
    assert groups == {
        1: (True, "GetAllEnvironmentStatus"),
        2: (False, "GetAllEnvironmentStatus"),
        3: (False, "GetAllEnvironmentStatus.isEnabled"),
        4: (True, "GetAllEnvironmentStatus.value"),
        5: (True, "detail.hasAllEnvironmentsAccess"),
        6: (None, None),
        7: (False, "detail.permissions"),
        8: (True, "detail.environments"),
    }
    keys = {k.id: k for k in inv.api_keys}
    assert (keys[101].group_ids, keys[101].role_ids) == ((2,), (4,))
    assert (keys[102].group_ids, keys[102].role_ids) == ((4,), (4,))  # singular only
    assert (keys[103].group_ids, keys[103].role_ids) == ((3,), (4,))  # null singular
    assert keys[106].group_ids == () and keys[108].role_ids == ()
    assert keys[117].role_ids == (2, 3)  # union
    assert keys[119].group_ids == (5, 8)  # plural only
    assert keys[103].is_wildcard and not keys[101].is_wildcard
    assert keys[112].is_system
    age = NOW - keys[105].created_at if keys[105].created_at else None
    assert age == timedelta(days=400)  # created_days_ago: 400
    assert {r.name for r in inv.soc_roles} >= {"Administrator", "Tier 1"}
    drift = {(d.endpoint, d.field) for d in inv.drift}
    assert ("GetPermissionGroup", "group 6") in drift
    assert ("GetApiKeys", "description") in drift


@pytest.mark.parametrize("offset", [timedelta(days=400), timedelta(days=-30), timedelta(0)],
                         ids=["plus-400d", "minus-30d", "test-now"])
def test_key_ages_are_the_scenarios_on_any_date(offset: timedelta, start_simulator: Any,
                                                demo_scenario: Scenario,
                                                tenant_config: TenantFactory) -> None:
    """Regression (issue 10): the simulator and the collection share one clock, so the ages
    the demo scenario states hold whatever the date, not only near the day it was written."""
    clock = FixedClock(TEST_NOW + offset)
    srv = start_simulator(demo_scenario, clock=clock)
    clock.advance(timedelta(hours=1))  # the audit runs after the simulator started
    now = clock.now()
    inv = collect_tenant(tenant_config(srv), now).inventory
    assert inv is not None and inv.collected_at == now
    keys = {k.id: k for k in inv.api_keys}
    stated = {k["id"]: k for k in demo_scenario.to_dict()["api_keys"]}
    checked = 0
    for key_id, record in stated.items():
        if "created_days_ago" not in record:
            continue
        created = keys[key_id].created_at
        assert created is not None
        ago = timedelta(days=record["created_days_ago"], hours=1)
        assert now - created == ago, key_id
        modified = record.get("modified_days_ago", record["created_days_ago"])
        assert keys[key_id].modified_at == now - timedelta(days=modified, hours=1), key_id
        checked += 1
    assert checked >= 15
    assert now - keys[105].created_at == timedelta(days=400, hours=1)  # type: ignore[operator]


def test_phase_after_is_seen_by_the_next_collection(simulator: SimulatorServer,
                                                    tenant_config: TenantFactory) -> None:
    simulator.set_phase("after")
    inv = collect_tenant(tenant_config(simulator), NOW).inventory
    assert inv is not None
    assert "Acme LATAM" in {e.name for e in inv.environments}
    keys = {k.id: k for k in inv.api_keys}
    assert 120 in keys and 107 not in keys and keys[108].is_wildcard


def test_environment_paging(start_simulator: Any, tenant_config: TenantFactory) -> None:
    srv = start_simulator({
        "tenant": "big", "app_keys": ["big-key-1"], "max_page_size": 5,
        "environments": [{"id": i, "name": f"Env {i:02d}"} for i in range(23)],
    })
    inv = collect_tenant(tenant_config(srv), NOW).inventory
    assert inv is not None
    assert [e.name for e in inv.environments] == [f"Env {i:02d}" for i in range(23)]
    assert sum(1 for _, p in srv.request_log if p.endswith("GetEnvironments")) == 5
    # the client's own page size drives paging too
    srv.clear_log()
    inv = collect_tenant(tenant_config(srv), NOW, page_size=4).inventory
    assert inv is not None and len(inv.environments) == 23
    assert sum(1 for _, p in srv.request_log if p.endswith("GetEnvironments")) == 6


def test_retry_after_is_honoured_and_capped(simulator: SimulatorServer,
                                            tenant_config: TenantFactory) -> None:
    import time

    simulator.set_faults([{"endpoint": "GetApiKeys", "status": 429, "retry_after": 3600,
                           "times": 1}])
    started = time.monotonic()
    result = collect_tenant(tenant_config(simulator), NOW)  # cap: 1 s (conftest's fast policy)
    elapsed = time.monotonic() - started
    assert result.ok, result.error
    assert 0.9 <= elapsed < 10
    assert sum(1 for _, p in simulator.request_log if p.endswith("GetApiKeys")) == 2


def test_transient_503s_then_ok(simulator: SimulatorServer, tenant_config: TenantFactory) -> None:
    simulator.set_faults([
        {"endpoint": "GetApiKeys", "status": 503, "times": 3},
        {"endpoint": "GetPermissionGroup", "group_id": 2, "status": 502, "body": "html",
         "times": 1},
        {"endpoint": "GetSocRoles", "disconnect": True, "times": 1},
    ])
    result = collect_tenant(tenant_config(simulator), NOW)
    assert result.ok, result.error
    assert sum(1 for _, p in simulator.request_log if p.endswith("GetApiKeys")) == 4


def _error(srv: SimulatorServer, cfg: TenantConfig, faults: list[dict[str, Any]]) -> str:
    srv.set_faults(faults)
    result = collect_tenant(cfg, NOW)
    assert not result.ok and result.inventory is None and result.error is not None
    assert "\n" not in result.error
    return result.error


def test_failures_fail_closed_with_one_line(simulator: SimulatorServer,
                                            tenant_config: TenantFactory) -> None:
    cfg = tenant_config(simulator)
    assert _error(simulator, cfg, [{"endpoint": "GetApiKeys", "status": 503}]) == (
        "GetApiKeys: HTTP 503 Service Unavailable (gave up after 4 retries)")
    assert _error(simulator, cfg, [{"endpoint": "GetApiKeys", "body": "malformed"}]).startswith(
        "GetApiKeys: the response is not valid JSON (application/json")
    assert _error(simulator, cfg, [{"endpoint": "GetApiKeys", "body": "wrong_shape"}]) == (
        "GetApiKeys: expected a JSON array of API key records, got an object")
    assert _error(simulator, cfg, [{"endpoint": "GetEnvironments", "body": "wrong_shape"}]) == (
        "GetEnvironments: item 0: name is null, expected text")
    assert _error(simulator, cfg, [{"endpoint": "GetSocRoles", "status": 500}]) == (
        "GetSocRoles: HTTP 500 Internal Server Error")
    assert _error(simulator, cfg, [{"endpoint": "GetAllEnvironmentStatus", "group_id": 2,
                                    "status": 500}]) == (
        "GetAllEnvironmentStatus: HTTP 500 Internal Server Error")
    assert _error(simulator, cfg, [{"endpoint": "GetPermissionsGroupCards", "status": 403}]) == (
        "GetPermissionsGroupCards: HTTP 403 Forbidden (check the tenant's api_key)")


def test_wrong_app_key(simulator: SimulatorServer, tenant_config: TenantFactory) -> None:
    result = collect_tenant(tenant_config(simulator, api_key="not-the-key-0123"), NOW)
    assert result.error == "GetApiKeys: HTTP 401 Unauthorized (check the tenant's api_key)"


def test_optional_calls_do_not_fail_the_tenant(simulator: SimulatorServer,
                                               tenant_config: TenantFactory) -> None:
    simulator.set_faults([
        {"endpoint": "GetSystemVersion", "status": 500},
        {"endpoint": "GetPermissionGroup", "group_id": 5, "status": 404},
    ])
    result = collect_tenant(tenant_config(simulator), NOW)
    assert result.ok and result.inventory is not None
    assert result.inventory.system_version is None
    groups = {g.id: g.all_environments for g in result.inventory.permission_groups}
    assert groups[5] is None  # neither status nor detail answered: unknown, not false
    assert ("GetSystemVersion", "(response)") in {(d.endpoint, d.field)
                                                  for d in result.inventory.drift}


def test_slow_answer_beyond_the_read_timeout(simulator: SimulatorServer,
                                             tenant_config: TenantFactory) -> None:
    simulator.set_faults([{"endpoint": "GetSocRoles", "delay_ms": 1500}])
    result = collect_tenant(tenant_config(simulator, timeout_seconds=0.3), NOW)
    assert result.error is not None
    assert result.error.startswith("GetSocRoles: no answer from 127.0.0.1:")
    assert result.error.endswith("within 0.3s (read timeout)")


def test_unreachable_tenant(demo_scenario: Scenario, tenant_config: TenantFactory) -> None:
    srv = SimulatorServer(demo_scenario).start()
    cfg = tenant_config(srv)
    srv.stop()
    result = collect_tenant(cfg, NOW)
    assert result.error is not None and "connection refused" in result.error
    assert result.error.startswith("GetApiKeys: cannot reach 127.0.0.1:")


def test_tenants_in_parallel_in_config_order(start_simulator: Any, demo_scenario: Scenario,
                                             tenant_config: TenantFactory) -> None:
    servers = [start_simulator(demo_scenario) for _ in range(3)]
    for srv in servers:
        srv.set_latency_ms(30)
    configs = [tenant_config(srv, name=f"t{i}", max_connections=2)
               for i, srv in enumerate(servers)]
    configs.insert(1, tenant_config(servers[0], name="broken", api_key="wrong-key-0000"))
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def progress(tenant: str, event: str) -> None:
        with lock:
            events.append((tenant, event))

    results = collect_all(configs, NOW, max_concurrent=4, progress=progress)
    assert [r.tenant for r in results] == ["t0", "broken", "t1", "t2"]
    assert [r.ok for r in results] == [True, False, True, True]
    assert sorted(events) == sorted([(c.name, "start") for c in configs]
                                    + [(c.name, "ok") for c in configs if c.name != "broken"]
                                    + [("broken", "error")])
    # within a tenant: concurrent, but never more than max_connections at once
    assert [srv.max_in_flight for srv in servers[1:]] == [2, 2]
    # across tenants: the tenants' requests overlapped in time (not one tenant after another)
    spans = [srv.request_spans for srv in servers]
    windows = [(min(s.started for s in sp), max(s.finished for s in sp)) for sp in spans]
    latest_start = max(w[0] for w in windows)
    earliest_end = min(w[1] for w in windows)
    assert latest_start < earliest_end


def test_empty_tenant_list() -> None:
    assert collect_all([], NOW, max_concurrent=4) == []
