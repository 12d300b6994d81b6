"""Shapes the client does not know: the audit completes where the data it needs is there, and the
run lists each (endpoint, field) once, however many records and tenants carry it."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from auditor.config import parse_config
from auditor.simulator.scenario import Scenario
from auditor.simulator.server import SimulatorServer

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def test_unknown_fields_and_shapes_are_listed_once(
    start_simulator: Callable[..., SimulatorServer], demo_scenario: Scenario, tmp_path: Path,
) -> None:
    from auditor.pipeline import run_audit
    from auditor.state import open_store

    data = demo_scenario.to_dict()
    for record in data["api_keys"]:  # a field nobody has seen yet, on every key
        record["lastUsedTimeUnixTimeInMs"] = 1_700_000_000_000
    data["api_keys"][5]["environments"] = "Acme HQ"  # a text where a list is expected
    data["environments"][1]["region"] = "eu-west"
    data["permission_groups"][1]["status"] = "Disabled"  # not a boolean: the detail decides
    sims = [start_simulator(data), start_simulator(data)]
    config = parse_config({
        "tenants": [{"name": f"tenant-{i}", "url": s.url, "api_key": s.app_key}
                    for i, s in enumerate(sims)],
        "state": f"sqlite:///{tmp_path}/state.db",
        "reports": {"dir": str(tmp_path), "formats": ["json"]},
    })
    store = open_store(config.state)
    try:
        result = run_audit(config, store=store, now=NOW, out_dir=tmp_path / "out", notify=False)
    finally:
        store.close()
    assert result.status == "complete"
    assert len(result.inventories["tenant-0"].api_keys) == 19

    document = json.loads((tmp_path / "out" / "findings.json").read_text())
    listed = Counter((d["endpoint"], d["field"]) for d in document["drift"])
    assert set(listed.values()) == {1}
    assert {
        ("GetApiKeys", "lastUsedTimeUnixTimeInMs"),
        ("GetApiKeys", "environments"),
        ("GetApiKeys", "description"),
        ("GetEnvironments", "region"),
        ("GetEnvironments", "aliases"),
        ("GetAllEnvironmentStatus", "(response)"),
    } <= set(listed)
    details = {(d["endpoint"], d["field"]): d["detail"] for d in document["drift"]}
    assert details[("GetApiKeys", "environments")] == "a text instead of a list; read as one name"
    assert details[("GetApiKeys", "lastUsedTimeUnixTimeInMs")] == "unknown field, ignored"
