"""Scenario files: validation with clear errors, phases, relative creation times."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from auditor.simulator.scenario import (
    Scenario,
    ScenarioError,
    builtin_names,
    builtin_scenario,
    load_scenario,
)

REF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
REF_MS = int(REF.timestamp() * 1000)
DAY_MS = 86_400_000


def test_demo_is_builtin_and_covers_the_variants(demo_scenario: Scenario) -> None:
    assert "demo" in builtin_names()
    world = demo_scenario.world(None, REF)
    keys = {k["id"]: k for k in world.api_keys}
    assert 12 <= len(keys) <= 20
    # singular only, plural only, null singular, both, union
    assert "permissionGroupIds" not in keys[102] and keys[102]["permissionGroupId"] == 4
    assert "permissionGroupId" not in keys[119] and keys[119]["permissionGroupIds"] == [5, 8]
    assert keys[103]["permissionGroupId"] is None and keys[103]["permissionGroupIds"] == [3]
    assert keys[117]["socRoleId"] == 2 and keys[117]["socRoleIds"] == [2, 3]
    assert any(k["environments"] == ["*"] for k in keys.values())
    names = {k["name"] for k in keys.values()}
    assert {"<img src=x onerror=alert(1)>", "<!channel>", '=HYPERLINK("http://evil","x")'} <= names
    assert any("\x1b[" in n for n in names)
    assert any(k["isSystem"] for k in keys.values())
    statuses = {g.id: g for g in world.permission_groups}
    assert statuses[1].status is True and isinstance(statuses[3].status, dict)
    assert not statuses[6].has_status
    # environments have no creation time, as in real life
    assert not any("creationTimeUnixTimeInMs" in e for e in world.environments)
    # every key carries a canary
    assert len(demo_scenario.canary_secrets()) == len(keys) + 1  # + the key added in `after`


def test_relative_times_resolve_against_the_reference(demo_scenario: Scenario) -> None:
    keys = {k["id"]: k for k in demo_scenario.world(None, REF).api_keys}
    assert keys[105]["creationTimeUnixTimeInMs"] == REF_MS - 400 * DAY_MS
    assert keys[105]["modificationTimeUnixTimeInMs"] == REF_MS - 120 * DAY_MS
    assert keys[101]["modificationTimeUnixTimeInMs"] == keys[101]["creationTimeUnixTimeInMs"]
    assert "created_days_ago" not in keys[101]


def test_phase_after_changes_the_demo(demo_scenario: Scenario) -> None:
    base = demo_scenario.world("base", REF)
    after = demo_scenario.world("after", REF)
    base_keys = {k["id"]: k for k in base.api_keys}
    after_keys = {k["id"]: k for k in after.api_keys}
    assert set(after_keys) - set(base_keys) == {120}
    assert set(base_keys) - set(after_keys) == {107}
    assert after_keys[108]["environments"] == ["*"] != base_keys[108]["environments"]
    assert after_keys[104]["environments"] == ["Acme EU"]
    assert after_keys[108]["modificationTimeUnixTimeInMs"] == REF_MS
    assert [e["name"] for e in after.environments][-1] == "Acme LATAM"
    assert len(after.environments) == len(base.environments) + 1
    with pytest.raises(KeyError, match="no phase 'later'"):
        demo_scenario.world("later", REF)


def _minimal() -> dict[str, object]:
    return {
        "tenant": "t1",
        "app_keys": ["app-key-1"],
        "environments": [{"name": "Default Environment"}],
        "permission_groups": [{"id": 1, "name": "Admins", "status": True}],
        "soc_roles": [{"id": 1, "name": "Administrator"}],
        "api_keys": [{"id": 1, "name": "k", "environments": ["*"], "created_days_ago": 1}],
    }


def test_from_dict_round_trips_through_to_dict() -> None:
    sc = Scenario.from_dict(_minimal())
    again = Scenario.from_dict(sc.to_dict())
    assert again.world(None, REF) == sc.world(None, REF)
    assert again.model.permission_groups[0].has_status


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("app_keys"), r"demo\.yaml:\d+: app_keys: is required"),
        (lambda d: d["api_keys"][0].pop("id"),
         r":\d+: api_keys\[0\]: an API key record needs an id"),
        (lambda d: d["api_keys"][0].update(created_days_ago="soon"),
         r"api_keys\[0\]: created_days_ago must be a number of days"),
        (lambda d: d.update(faults=[{"endpoint": "GetKeys", "status": 503}]),
         r"faults\[0\]\.endpoint: unknown endpoint 'GetKeys'"),
        (lambda d: d.update(phases={"after": {"api_keys": {"remove": [99]}}}),
         r"phases\.after\.api_keys\.remove\[0\]: nothing with id 99 to remove"),
        (lambda d: d["permission_groups"].append({"id": 1, "name": "Dup"}),
         r"permission_groups: id 1 is used twice"),
        (lambda d: d.update(colour="blue"), r"colour: unknown field"),
    ],
)
def test_bad_files_name_the_file_line_and_field(tmp_path: Path, change: object,
                                                expected: str) -> None:
    data = copy.deepcopy(_minimal())
    change(data)  # type: ignore[operator]
    import yaml

    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(path)


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tenant: x\napp_keys: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml:\d+: not valid YAML"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        load_scenario(tmp_path / "missing.yaml")
    with pytest.raises(ScenarioError, match="no built-in scenario named 'nope'"):
        builtin_scenario("nope")
