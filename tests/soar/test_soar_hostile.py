"""A hostile API, over real loopback HTTP: what it can make the auditor do is bounded (pages,
bytes, depth), odd values become one line or an `unknown` fact with a drift note, and every
string survives into every output."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditor.config import TenantConfig, parse_config
from auditor.pipeline import run_audit
from auditor.simulator.scenario import Scenario
from auditor.simulator.server import SimulatorServer
from auditor.soar.collect import collect_tenant
from tests.conftest import TEST_NOW

StartSimulator = Callable[..., SimulatorServer]
TenantFactory = Callable[..., TenantConfig]


def _error(sim: SimulatorServer, tenant_config: TenantFactory, **kw: Any) -> str | None:
    return collect_tenant(tenant_config(sim, **kw), TEST_NOW).error


def test_endless_numbered_paging_is_refused_at_once(
    simulator: SimulatorServer, tenant_config: TenantFactory,
) -> None:
    simulator.set_faults([{"endpoint": "GetEnvironments", "reply": {
        "objectsList": [], "metadata": {"totalNumberOfPages": 1_000_000_000}}}])
    assert _error(simulator, tenant_config) == (
        "GetEnvironments: the server announces 1000000000 pages, more than the 10000 the "
        "auditor reads (max_pages)")
    assert len([p for _m, p in simulator.request_log if "GetEnvironments" in p]) == 1
    simulator.set_faults([{"endpoint": "GetEnvironments", "reply": {
        "objectsList": [{"name": "A"}], "metadata": {"totalNumberOfPages": 30}}}])
    assert _error(simulator, tenant_config, max_pages=20) == (
        "GetEnvironments: the server announces 30 pages, more than the 20 the auditor reads "
        "(max_pages)")


def test_a_repeated_page_fails_and_an_empty_page_ends_the_list(
    start_simulator: StartSimulator, demo_scenario: Scenario, tenant_config: TenantFactory,
) -> None:
    data = demo_scenario.to_dict()
    data["max_page_size"] = 1  # four environments: four pages
    sim = start_simulator(data)
    same = {"objectsList": [{"name": "Acme HQ"}], "metadata": {"totalNumberOfPages": 4}}
    sim.set_faults([{"endpoint": "GetEnvironments", "reply": same}])
    error = _error(sim, tenant_config) or ""
    found = re.fullmatch(r"GetEnvironments: page (\d) repeats page (\d) \(the server ignores "
                         r"requestedPage\?\); stopped", error)
    assert found and int(found.group(1)) == int(found.group(2)) + 1, error  # pages race
    sim.set_faults([{"endpoint": "GetEnvironments", "page": 2, "reply": {
        "objectsList": [], "metadata": {"totalNumberOfPages": 4}}}])
    result = collect_tenant(tenant_config(sim), TEST_NOW)
    assert result.ok and result.inventory is not None
    assert [e.name for e in result.inventory.environments] == ["Default Environment", "Acme HQ"]
    (note,) = [d for d in result.inventory.drift if d.field == "metadata.totalNumberOfPages"]
    assert note.detail == "announced 4 pages, page 3 was empty; read up to there"


def test_endless_page_tokens_are_stopped(
    start_simulator: StartSimulator, demo_scenario: Scenario, tenant_config: TenantFactory,
    tmp_path: Path,
) -> None:
    from tests.soar.test_soar_chronicle import chronicle_block

    sim = start_simulator(demo_scenario)
    sim.set_faults([{"endpoint": "ListSoarUsers", "reply": {
        "legacySoarUsers": [], "nextPageToken": "again"}}])
    tenant = tenant_config(sim, chronicle=chronicle_block(sim, tmp_path))
    assert collect_tenant(tenant, TEST_NOW).error == (
        "ListSoarUsers: the server repeated a page token (endless paging); stopped after 2 pages")


def test_a_response_over_the_cap_is_never_read_whole(
    simulator: SimulatorServer, tenant_config: TenantFactory,
) -> None:
    big = [{"id": i, "name": "x" * 1000, "environments": []} for i in range(3000)]  # ~3 MB
    simulator.set_faults([{"endpoint": "GetApiKeys", "reply": big}])
    assert _error(simulator, tenant_config, max_response_mb=1) == (
        "GetApiKeys: the response is larger than the cap of 1 MiB (3 MB); not read (raise the "
        "tenant's max_response_mb if it is genuine)")


def test_a_huge_answer_stays_within_a_small_address_space(tmp_path: Path) -> None:
    """The body is streamed against the cap: under an address-space limit far below the size
    of the answer, the tenant fails with one line (in a child process, so that the limit does
    not bind the test runner)."""
    import subprocess
    import sys

    script = tmp_path / "child.py"
    script.write_text(
        "import resource, sys\n"
        "from pydantic import SecretStr\n"
        "from auditor.config import TenantConfig\n"
        "from auditor.soar.collect import collect_tenant\n"
        "from datetime import UTC, datetime\n"
        "limit = 1024 * 1024 * 1024\n"
        "resource.setrlimit(resource.RLIMIT_AS, (limit, limit))\n"
        "t = TenantConfig(name='big', url=sys.argv[1], api_key=SecretStr(sys.argv[2]),\n"
        "                 max_response_mb=64)\n"
        "print(collect_tenant(t, datetime(2026, 11, 26, tzinfo=UTC)).error)\n",
        encoding="utf-8")
    from tests.soar.bigbody import BigBodyServer

    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}  # address space for data, not malloc arenas
    with BigBodyServer(2 * 1024 * 1024 * 1024) as url:  # a 2 GiB answer to every call
        proc = subprocess.run([sys.executable, str(script), url, "any-key"], capture_output=True,
                              text=True, timeout=120, cwd=Path(__file__).parents[2], check=False,
                              env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith("GetApiKeys: the response is larger than the cap of "
                                          "64 MiB (more); not read")
    assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stdout


def test_deep_json_is_one_line(simulator: SimulatorServer, tenant_config: TenantFactory) -> None:
    simulator.set_faults([{"endpoint": "GetApiKeys", "raw": "[" * 100_000 + "]" * 100_000}])
    error = _error(simulator, tenant_config)
    assert error is not None and error.startswith(
        "GetApiKeys: the response is nested too deeply to be read")


@pytest.mark.parametrize(("raw", "why"), [
    ("1e20", "unreadable"), ("Infinity", "unreadable"), ('"10000-01-01T00:00:00Z"', "unreadable"),
    ('"' + "9" * 40 + '"', "unreadable"), ("1700000000", "before 2010"),
    ("4102444800000", "after the audit"),  # 2100-01-01
])
def test_odd_creation_times_are_unknown_with_a_drift_note(
    raw: str, why: str, simulator: SimulatorServer, tenant_config: TenantFactory,
    tmp_path: Path,
) -> None:
    record = ('[{"id": 1, "name": "odd", "isSystem": false, "permissionGroupId": 2, '
              f'"socRoleId": 2, "environments": ["Acme HQ"], "creationTimeUnixTimeInMs": {raw}}}]')
    simulator.set_faults([{"endpoint": "GetApiKeys", "raw": record}])
    result = collect_tenant(tenant_config(simulator), TEST_NOW)
    assert result.ok, result.error
    assert result.inventory is not None
    (key,) = result.inventory.api_keys
    assert key.created_at is None
    notes = [d.detail for d in result.inventory.drift
             if d.field == "creationTimeUnixTimeInMs" and "key id 1" in d.detail]
    assert len(notes) == 1 and why in notes[0], notes
    config = parse_config({
        "tenants": [{"name": "acme-prod", "url": simulator.url, "api_key": simulator.app_key}],
        "state": f"sqlite:///{tmp_path}/state.db",
        "reports": {"dir": str(tmp_path), "formats": ["json"]}})
    audit = run_audit(config, now=TEST_NOW, out_dir=tmp_path / "out", notify=False)
    age = [f for f in audit.findings if f.rule_id == "SOAR-AGE-001"]
    assert [f.status for f in age] == ["unknown"]  # never a pass, never a fail


def test_a_lone_surrogate_survives_into_every_output(
    simulator: SimulatorServer, tmp_path: Path,
) -> None:
    record = ('[{"id": 1, "name": "bad\\ud800name", "isSystem": false, "permissionGroupId": 1, '
              '"socRoleId": 1, "environments": ["\\udfffenv"], '
              '"creationTimeUnixTimeInMs": 1600000000000}]')
    simulator.set_faults([{"endpoint": "GetApiKeys", "raw": record}])
    from auditor.config import FORMATS

    config = parse_config({
        "tenants": [{"name": "acme-prod", "url": simulator.url, "api_key": simulator.app_key}],
        "state": f"sqlite:///{tmp_path}/state.db",
        "reports": {"dir": str(tmp_path), "formats": list(FORMATS)}})
    audit = run_audit(config, now=TEST_NOW, out_dir=tmp_path / "out", notify=False)
    assert audit.status == "complete"
    doc = json.loads((tmp_path / "out" / "findings.json").read_text(encoding="utf-8"))
    names = {f["resource"]["name"] for f in doc["findings"]}
    assert "bad\ufffdname" in names
    for file in (tmp_path / "out").iterdir():
        file.read_bytes().decode("utf-8")  # every output is valid UTF-8


def test_a_dead_tenant_is_one_line_at_default_verbosity(tmp_path: Path) -> None:
    import socket

    from tests.e2e.helpers import cli, write_config

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = write_config(tmp_path / "auditor.yaml", {
        "tenants": [{"name": "dead", "url": f"http://127.0.0.1:{port}", "api_key": "${K}",
                     "timeout_seconds": 2}],
        "state": f"sqlite:///{tmp_path}/state.db",
        "reports": {"dir": str(tmp_path / "reports"), "formats": ["json"]}})
    proc = cli("run", "--config", str(cfg), env={"K": "some-key"})
    assert proc.returncode == 3
    assert "Retrying" not in proc.stderr and "urllib3" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "dead" in line and "refused" in line]
    assert len(lines) == 1, proc.stderr
