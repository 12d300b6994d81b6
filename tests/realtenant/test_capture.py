"""`soar-auditor capture`: a tenant recorded into a scenario holds no secret, and replaying it
gives the findings of the live audit."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from auditor.capture import REMOVED, REPLAY_APP_KEY, CaptureError, capture_tenant
from auditor.cli import main
from auditor.clock import FixedClock
from auditor.config import Config, TenantConfig, parse_config
from auditor.result import RunResult
from auditor.simulator.scenario import Scenario, load_scenario
from auditor.simulator.server import SimulatorServer
from tests.conftest import TEST_NOW
from tests.realtenant.test_doctor import without_secret_warnings

NOW = TEST_NOW  # the simulators' clock (conftest)
StartSimulator = Callable[..., SimulatorServer]
TenantFactory = Callable[..., TenantConfig]


def _config(sim: SimulatorServer, api_key: str, folder: Path) -> Config:
    return parse_config({
        "tenants": [{"name": "acme-prod", "url": sim.url, "api_key": api_key}],
        "state": f"sqlite:///{folder}/state.db",
        "reports": {"dir": str(folder), "formats": ["json"]},
        "rules": {"params": {"key_name_pattern": "^[a-z0-9][a-z0-9-]*$"}},
    })


def _audit(config: Config, folder: Path) -> RunResult:
    from auditor.pipeline import run_audit
    from auditor.state import open_store

    store = open_store(config.state)
    try:
        return run_audit(config, store=store, now=NOW, out_dir=folder / "out", notify=False)
    finally:
        store.close()


def _findings(result: RunResult) -> list[tuple[Any, ...]]:
    return sorted((f.id, f.rule_id, f.status, f.severity, f.resource.id, f.resource.name,
                   f.message, json.dumps(f.evidence, sort_keys=True, default=str))
                  for f in result.findings)


def _capture_to(path: Path, sim: SimulatorServer, tenant_config: TenantFactory,
                **kw: Any) -> str:
    _capture, text = capture_tenant(tenant_config(sim), now=NOW, **kw)
    path.write_text(text, encoding="utf-8")
    return text


def test_a_replayed_capture_gives_the_same_findings(
    simulator: SimulatorServer, demo_scenario: Scenario, tenant_config: TenantFactory,
    start_simulator: StartSimulator, tmp_path: Path,
) -> None:
    # optional calls that fail are part of what is captured and replayed
    simulator.set_faults([{"endpoint": "GetSystemVersion", "status": 404},
                          {"endpoint": "GetPermissionGroup", "group_id": 5, "status": 404}])
    live = _audit(_config(simulator, simulator.app_key, tmp_path / "live"), tmp_path / "live")
    file = tmp_path / "acme.yaml"
    text = _capture_to(file, simulator, tenant_config)

    secrets = demo_scenario.canary_secrets() | {simulator.app_key}
    assert len(secrets) == 21 and not [s for s in secrets if s in text]
    assert text.count(f"key: '{REMOVED}'") == 19

    replay_sim = start_simulator(load_scenario(file))
    replay = _audit(_config(replay_sim, REPLAY_APP_KEY, tmp_path / "replay"), tmp_path / "replay")
    assert live.status == replay.status == "complete"
    assert len(live.findings) > 20
    assert _findings(replay) == _findings(live)
    assert sorted(map(repr, replay.drift)) == sorted(map(repr, live.drift))
    assert any(d.endpoint == "GetSystemVersion" for d in live.drift)
    assert (replay.inventories["acme-prod"].to_dict()
            == live.inventories["acme-prod"].to_dict())


def test_anonymized_names_are_stable_pseudonyms(
    simulator: SimulatorServer, demo_scenario: Scenario, tenant_config: TenantFactory,
    start_simulator: StartSimulator, tmp_path: Path,
) -> None:
    live = _audit(_config(simulator, simulator.app_key, tmp_path / "live"), tmp_path / "live")
    file = tmp_path / "anon.yaml"
    text = _capture_to(file, simulator, tenant_config, anonymize=True,
                       keep=["Admins", "Administrator"])
    again = capture_tenant(tenant_config(simulator), now=NOW, anonymize=True)[1]

    names = (["acme-prod", "Acme HQ", "Acme EU", "Acme Benelux", "SOC Tier 1", "Automation",
              "soar-sync-connector", "Jira Integration", "break-glass-admin",
              "Headquarters SOC", "Enrichment for the EU entities"])
    assert not [n for n in names if n in text]
    assert "name: Admins" in text and "name: Administrator" in text  # named by the rules
    data = yaml.safe_load(text)
    keys = {k["id"]: k for k in data["api_keys"]}
    envs = [e["name"] for e in data["environments"]]
    assert all(re.fullmatch(r"env-[0-9a-f]{10}", e) for e in envs)
    assert keys[101]["environments"] == envs  # the same pseudonym wherever a name occurs
    assert keys[109]["name"] == keys[110]["name"]  # "Jira Integration" / "jira integration "
    assert keys[104]["environments"][0] in envs and keys[104]["environments"][1] not in envs
    assert yaml.safe_load(again)["api_keys"][0]["name"] != keys[101]["name"]  # salt per capture

    replay_sim = start_simulator(load_scenario(file))
    replay = _audit(_config(replay_sim, REPLAY_APP_KEY, tmp_path / "replay"), tmp_path / "replay")

    def verdicts(result: RunResult) -> set[tuple[Any, ...]]:
        return {(f.id, f.rule_id, f.status, f.resource.id) for f in result.findings}

    # the same verdicts with the same fingerprints, except the key-name pattern (pseudonyms
    # match it) — and the names in messages are pseudonyms
    differ = verdicts(live) ^ verdicts(replay)
    assert differ and {rule for _id, rule, _s, _r in differ} == {"SOAR-NAME-001"}
    # (the tenant's name in the replay's results is the one its configuration gives)
    assert not [n for n in names[1:] if n in json.dumps(replay.to_dict())]


def test_every_secret_looking_value_is_removed(
    start_simulator: StartSimulator, demo_scenario: Scenario, tenant_config: TenantFactory,
) -> None:
    data = demo_scenario.to_dict()
    sim_key = data["app_keys"][0]
    data["api_keys"][0] |= {"apiToken": "tok-0001-abcdef", "clientSecret": "s3cr3t-value-0001",
                            "owner": "alice@acme.example", "note": f"rotated from {sim_key}"}
    data["environments"][0] |= {"webhook": "Bearer abcdefghijklmnopqrstuvwxyz",
                                "jwt": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}
    data["permission_groups"][1]["detail"] = {"password": "hunter2-hunter2",
                                              "privateKey": "-----BEGIN PRIVATE KEY-----"}
    sim = start_simulator(data)
    capture, text = capture_tenant(tenant_config(sim), now=NOW)
    for secret in ("tok-0001-abcdef", "s3cr3t-value-0001", sim_key, "abcdefghijklmnopqrstuvwxyz",
                   "eyJhbGciOiJSUzI1NiJ9", "hunter2-hunter2", "BEGIN PRIVATE KEY",
                   *demo_scenario.canary_secrets()):
        assert secret not in text
    assert capture.removed == 19 + 7
    assert "alice@acme.example" in text  # not a secret; --anonymize replaces it
    anonymous = capture_tenant(tenant_config(sim), now=NOW, anonymize=True)[1]
    assert "alice@acme.example" not in anonymous and "@example.invalid" in anonymous


def test_capture_command(simulator: SimulatorServer, tmp_path: Path, clock: FixedClock) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"tenants": [
        {"name": "acme-prod", "url": simulator.url, "api_key": simulator.app_key},
        {"name": "down", "url": "http://127.0.0.1:9", "api_key": "k-1234",
         "timeout_seconds": 1}]}))
    out = tmp_path / "captures" / "acme.yaml"
    runner = CliRunner()
    result = runner.invoke(main, ["capture", "--config", str(config), "--tenant", "acme-prod",
                                  "--out", str(out), "--anonymize"],
                           obj={"clock": clock})  # the simulator's clock
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ("captured acme-prod: 19 api keys, 4 environments, 8 permission groups, "
                        "5 soc roles")
    assert re.fullmatch(r"secrets removed: 19 value\(s\); names replaced: \d+", lines[1])
    assert lines[2:] == [f"written: {out}",
                         f"replay:  soar-auditor simulator --scenario {out}  "
                         f"(AppKey {REPLAY_APP_KEY})"]
    assert load_scenario(out).tenant.startswith("tenant-")

    missing = runner.invoke(main, ["capture", "--config", str(config), "--tenant", "nope",
                                   "--out", str(out)])
    assert missing.exit_code == 2
    assert without_secret_warnings(missing.output) == (
        "soar-auditor: --tenant: no tenant named 'nope' (tenants: acme-prod, down)\n")
    down = runner.invoke(main, ["capture", "--config", str(config), "--tenant", "down",
                                "--out", str(tmp_path / "down.yaml")])
    assert down.exit_code == 1
    assert down.stderr.splitlines()[-1] == (
        "soar-auditor: capture: tenant down not collected: GetApiKeys: cannot reach "
        "127.0.0.1:9: connection refused")
    assert not (tmp_path / "down.yaml").exists()


def test_a_capture_that_would_keep_a_secret_is_not_written(
    simulator: SimulatorServer, tenant_config: TenantFactory, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import auditor.capture as capture_module

    # a cleaner that misses the key field: the final check still refuses the text
    monkeypatch.setattr(capture_module, "_SECRET_NAME", re.compile(r"^$"))
    with pytest.raises(CaptureError, match="a secret would remain in the capture"):
        capture_tenant(tenant_config(simulator), now=NOW)
