"""The simulator over real loopback HTTP(S): routes, auth, paging, phases, faults, control API."""

from __future__ import annotations

import ssl
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from auditor.simulator.scenario import Fault, Scenario
from auditor.simulator.server import SimulatorServer

API = "/api/external/v1"


def _get(srv: SimulatorServer, path: str, **kw: Any) -> requests.Response:
    headers = kw.pop("headers", {"AppKey": srv.app_key})
    return requests.get(srv.url + API + path, headers=headers, timeout=5, **kw)


def _roles(srv: SimulatorServer, path: str = "/socroles/getSocRoles") -> requests.Response:
    return requests.post(srv.url + API + path, headers={"AppKey": srv.app_key}, timeout=5,
                         json={"searchTerm": "", "requestedPage": 0, "pageSize": 100})


def _envs(srv: SimulatorServer, page: int, size: int, term: str = "") -> requests.Response:
    return requests.post(srv.url + API + "/settings/GetEnvironments", timeout=5,
                         headers={"AppKey": srv.app_key},
                         json={"searchTerm": term, "requestedPage": page, "pageSize": size})


def test_every_endpoint_answers_the_documented_shape(simulator: SimulatorServer) -> None:
    assert _get(simulator, "/settings/GetSystemVersion").json() == "6.3.47.0"
    keys = _get(simulator, "/settings/GetApiKeys").json()
    assert isinstance(keys, list) and {"id", "name", "key", "environments"} <= set(keys[0])
    cards = _get(simulator, "/permissions/GetPermissionsGroupCards").json()
    assert all(isinstance(c["id"], int) and c["name"] for c in cards)
    assert _get(simulator, "/permissions/1").json()["name"] == "Admins"
    assert _get(simulator, "/permissions/GetAllEnvironmentStatus/1").json() is True
    assert _get(simulator, "/permissions/GetAllEnvironmentStatus/3").json() == {
        "groupId": 3, "isEnabled": False}
    assert _get(simulator, "/permissions/GetAllEnvironmentStatus/6").status_code == 404
    assert _get(simulator, "/permissions/999").status_code == 404
    roles = _roles(simulator).json()  # Google's own form: the paged POST
    assert {"id": 1, "name": "Administrator", "isPredefined": True} in roles["objectsList"]
    assert roles["metadata"]["totalNumberOfPages"] == 1
    body = _envs(simulator, 0, 100).json()
    assert [e["name"] for e in body["objectsList"]][:2] == ["Default Environment", "Acme HQ"]
    assert body["metadata"]["totalNumberOfPages"] == 1


def test_routes_are_case_insensitive_and_methods_checked(simulator: SimulatorServer) -> None:
    assert _get(simulator, "/SETTINGS/getApiKEYS").status_code == 200
    assert _roles(simulator, "/socroles/GETSOCROLES/").status_code == 200
    assert _get(simulator, "/socroles/GetSocRoles").status_code == 405  # socroles: post
    post = requests.post(simulator.url + API + "/settings/GetApiKeys",
                         headers={"AppKey": simulator.app_key}, timeout=5)
    assert post.status_code == 405 and post.headers["Allow"] == "GET"
    assert _get(simulator, "/settings/GetEnvironments").status_code == 405
    assert _get(simulator, "/settings/Nope").status_code == 404


def test_authentication(simulator: SimulatorServer, demo_scenario: Scenario) -> None:
    for headers in ({}, {"AppKey": "wrong"}, {"Authorization": "Bearer wrong"}):
        r = _get(simulator, "/settings/GetApiKeys", headers=headers)
        assert r.status_code == 401
        assert "ErrorMessage" in r.json()
    bearer = {"Authorization": f"Bearer {demo_scenario.bearer_tokens[0]}"}
    assert _get(simulator, "/settings/GetApiKeys", headers=bearer).status_code == 200
    assert _get(simulator, "/settings/GetApiKeys", headers={"appkey": simulator.app_key}).ok


def test_environment_paging(start_simulator: Any) -> None:
    data: dict[str, Any] = {
        "tenant": "big", "app_keys": ["k-123"], "max_page_size": 7,
        "environments": [{"id": i, "name": f"Env {i:03d}"} for i in range(23)],
    }
    srv = start_simulator(data)
    first = _envs(srv, 0, 100).json()  # the server caps the page size at 7
    assert len(first["objectsList"]) == 7 and first["metadata"]["totalNumberOfPages"] == 4
    last = _envs(srv, 3, 100).json()
    assert [e["name"] for e in last["objectsList"]] == ["Env 021", "Env 022"]
    assert _envs(srv, 9, 5).json()["objectsList"] == []
    assert _envs(srv, 0, 5, term="env 01").json()["metadata"]["totalNumberOfObjects"] == 10


def test_phases_switch_at_runtime_and_over_http(simulator: SimulatorServer) -> None:
    before = {k["id"] for k in _get(simulator, "/settings/GetApiKeys").json()}
    simulator.set_phase("after")
    after = {k["id"] for k in _get(simulator, "/settings/GetApiKeys").json()}
    assert after - before == {120} and before - after == {107}
    r = requests.post(simulator.url + "/_sim/phase", json={"phase": "base"}, timeout=5)
    assert r.json()["phase"] == "base"
    assert {k["id"] for k in _get(simulator, "/settings/GetApiKeys").json()} == before
    bad = requests.post(simulator.url + "/_sim/phase", json={"phase": "later"}, timeout=5)
    assert bad.status_code == 400 and "no phase 'later'" in bad.json()["ErrorMessage"]
    with pytest.raises(KeyError):
        simulator.set_phase("later")


def test_injectable_clock_fixes_creation_times(start_simulator: Any,
                                               demo_scenario: Scenario) -> None:
    ref = datetime(2026, 1, 1, tzinfo=UTC)
    srv = start_simulator(demo_scenario, clock=lambda: ref)
    keys = {k["id"]: k for k in _get(srv, "/settings/GetApiKeys").json()}
    assert keys[101]["creationTimeUnixTimeInMs"] == int(ref.timestamp() * 1000) - 40 * 86_400_000
    assert srv.reference_time == ref


def test_faults_status_then_ok_with_retry_after(simulator: SimulatorServer) -> None:
    simulator.set_faults([Fault(endpoint="getapikeys", status=429, retry_after=2, times=2)])
    for _ in range(2):
        r = _get(simulator, "/settings/GetApiKeys")
        assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    assert _get(simulator, "/settings/GetApiKeys").status_code == 200
    assert _roles(simulator).status_code == 200


def test_fault_bodies_and_group_targeting(simulator: SimulatorServer) -> None:
    simulator.set_faults([
        {"endpoint": "GetApiKeys", "body": "malformed"},
        {"endpoint": "GetSocRoles", "body": "wrong_shape"},
        {"endpoint": "GetEnvironments", "body": "wrong_shape"},
        {"endpoint": "GetAllEnvironmentStatus", "group_id": 2, "status": 502, "body": "html"},
    ])
    with pytest.raises(requests.JSONDecodeError):
        _get(simulator, "/settings/GetApiKeys").json()
    assert isinstance(_roles(simulator).json(), list)
    assert isinstance(_envs(simulator, 0, 10).json(), list)
    r = _get(simulator, "/permissions/GetAllEnvironmentStatus/2")
    assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/html")
    assert _get(simulator, "/permissions/GetAllEnvironmentStatus/1").json() is True


def test_delay_disconnect_latency_and_control_api(simulator: SimulatorServer) -> None:
    simulator.set_faults([Fault(endpoint="GetSocRoles", delay_ms=300)])
    with pytest.raises(requests.ReadTimeout):
        requests.post(simulator.url + API + "/socroles/getSocRoles", timeout=(2, 0.1),
                      headers={"AppKey": simulator.app_key}, json={})
    simulator.set_faults([Fault(endpoint="*", disconnect=True, times=1)])
    with pytest.raises(requests.ConnectionError):
        _get(simulator, "/settings/GetApiKeys")
    assert _get(simulator, "/settings/GetApiKeys").ok
    r = requests.post(simulator.url + "/_sim/faults", timeout=5,
                      json=[{"endpoint": "GetApiKeys", "status": 503}])
    assert r.json()["faults"] == [{"endpoint": "GetApiKeys", "status": 503}]
    assert _get(simulator, "/settings/GetApiKeys").status_code == 503
    bad = requests.post(simulator.url + "/_sim/faults", json=[{"endpoint": "X"}], timeout=5)
    assert bad.status_code == 400 and "unknown endpoint" in bad.json()["ErrorMessage"]
    requests.post(simulator.url + "/_sim/latency", json={"latency_ms": 150}, timeout=5)
    started = time.monotonic()
    _get(simulator, "/settings/GetApiKeys")
    assert time.monotonic() - started >= 0.15
    state = requests.get(simulator.url + "/_sim/state", timeout=5).json()
    assert state["latency_ms"] == 150 and state["phases"] == ["base", "after"]


def test_request_log_excludes_control_calls(simulator: SimulatorServer) -> None:
    _get(simulator, "/settings/GetApiKeys")
    requests.get(simulator.url + "/_sim/state", timeout=5)
    assert simulator.request_log == [("GET", API + "/settings/GetApiKeys")]
    assert len(simulator.request_spans) == 1 and simulator.max_in_flight == 1


def test_https_with_a_private_ca(demo_scenario: Scenario, tmp_path: Path) -> None:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with SimulatorServer(demo_scenario, ssl_context=ctx).running() as srv:
        assert srv.url.startswith("https://127.0.0.1:")
        assert _get(srv, "/settings/GetSystemVersion", verify=str(ca_file)).ok
        with pytest.raises(requests.exceptions.SSLError):
            _get(srv, "/settings/GetSystemVersion")


def test_only_loopback_hosts(demo_scenario: Scenario) -> None:
    with pytest.raises(ValueError, match="loopback"):
        SimulatorServer(demo_scenario, host="192.0.2.1")


def test_faults_and_latency_from_the_scenario_file(start_simulator: Any, tmp_path: Path) -> None:
    path = tmp_path / "flaky.yaml"
    path.write_text(
        "tenant: flaky\napp_keys: [flaky-key-1]\nlatency_ms: 50\n"
        "faults:\n  - {endpoint: getApiKeys, status: 503, retry_after: 1, times: 1}\n"
    )
    srv = start_simulator(path)
    started = time.monotonic()
    first = _get(srv, "/settings/GetApiKeys")
    assert time.monotonic() - started >= 0.05
    assert first.status_code == 503 and first.headers["Retry-After"] == "1"
    assert _get(srv, "/settings/GetApiKeys").json() == []
