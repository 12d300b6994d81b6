"""Raw JSON -> models: the variants the SOAR API is known (or feared) to send."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from auditor.soar import shapes
from auditor.soar.client import ShapeError


def _key(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": 7, "name": "ci-bot", "key": "****", "isSystem": False,
                            "environments": ["Default Environment"],
                            "creationTimeUnixTimeInMs": 1_700_000_000_000}
    base.update(fields)
    return base


@pytest.mark.parametrize(
    ("fields", "groups", "roles"),
    [
        ({"permissionGroupId": 3, "permissionGroupIds": [3], "socRoleId": 2, "socRoleIds": [2]},
         (3,), (2,)),
        ({"permissionGroupId": 3, "socRoleId": 2}, (3,), (2,)),
        ({"permissionGroupIds": [4, 3], "socRoleIds": [2, 5]}, (3, 4), (2, 5)),
        ({"permissionGroupId": None, "permissionGroupIds": [3], "socRoleId": None,
          "socRoleIds": None}, (3,), ()),
        ({"permissionGroupId": 1, "permissionGroupIds": [3]}, (1, 3), ()),
        ({}, (), ()),
    ],
)
def test_group_and_role_ids_are_the_union(fields: dict[str, Any], groups: tuple[int, ...],
                                          roles: tuple[int, ...]) -> None:
    (key,) = shapes.parse_api_keys([_key(**fields)], shapes.DriftLog())
    assert key.group_ids == groups and key.role_ids == roles


def test_api_key_fields_and_the_secret_is_dropped() -> None:
    drift = shapes.DriftLog()
    (key,) = shapes.parse_api_keys([_key(key="CANARY-SECRET-1", environments=["*"],
                                         lastSeenBy="x", isSystem=True)], drift)
    assert key.is_wildcard and key.is_system
    assert key.created_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert "CANARY-SECRET-1" not in repr(key)
    assert not hasattr(key, "key")
    assert [(d.endpoint, d.field) for d in drift.notes] == [("GetApiKeys", "lastSeenBy")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"id": 1}, "expected a JSON array of API key records, got an object"),
        ([_key(id="7")], "item 0: an API key without an integer id"),
        ([_key(environments=None)], "key id 7: environments is null, expected a list"),
        ([_key(permissionGroupIds="3")], "key id 7: permissionGroupIds is not a list of ids"),
        ([_key(socRoleId="admin")], "key id 7: socRoleId is a string, expected an id"),
        ([_key(isSystem="no")], "key id 7: isSystem is a string, expected a boolean"),
        ([_key(), _key()], "API key id 7 is listed twice"),
        ([_key(name=None)], "key id 7: name is null, expected text"),
    ],
)
def test_wrong_shapes_raise_naming_the_endpoint(data: Any, message: str) -> None:
    with pytest.raises(ShapeError) as err:
        shapes.parse_api_keys(data, shapes.DriftLog())
    assert str(err.value).startswith(f"GetApiKeys: {message}")


def test_missing_creation_time_and_system_flag_are_drift() -> None:
    drift = shapes.DriftLog()
    raw = _key()
    del raw["creationTimeUnixTimeInMs"], raw["isSystem"]
    (key,) = shapes.parse_api_keys([raw], drift)
    assert key.created_at is None and key.is_system is False
    assert {d.field for d in drift.notes} == {"creationTimeUnixTimeInMs", "isSystem"}


def test_environment_pages_and_creation_times() -> None:
    drift = shapes.DriftLog()
    page = {
        "objectsList": [
            {"id": 1, "name": "A"},
            {"id": 2, "name": "B", "creationTimeUnixTimeInMs": 1_700_000_000_000},
            {"name": "C", "creationTime": "2024-01-02T03:04:05Z"},
            {"name": "D", "createTime": "1700000000000", "contactEmail": "x"},
        ],
        "metadata": {"totalNumberOfPages": 3},
    }
    items, pages, _token = shapes.page_items("GetEnvironments", page, None, drift)
    envs = shapes.parse_environments(items, drift)
    assert pages == 3
    assert [e.name for e in envs] == ["A", "B", "C", "D"]
    assert envs[0].created_at is None and envs[0].id == 1
    ms_time = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert envs[1].created_at == envs[3].created_at == ms_time
    assert envs[2].created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [d.field for d in drift.notes] == ["contactEmail"]
    _, pages, _token = shapes.page_items("GetEnvironments", {"objectsList": []}, None, drift)
    assert pages == 1 and "metadata.totalNumberOfPages" in {d.field for d in drift.notes}
    with pytest.raises(ShapeError, match=r"^GetEnvironments: the response has no objectsList"):
        shapes.page_items("GetEnvironments", {"items": []}, None, drift)


N = shapes.NOT_AVAILABLE


@pytest.mark.parametrize(
    ("status", "detail", "state", "source"),
    [
        (True, N, True, "GetAllEnvironmentStatus"),
        (False, {"allEnvironments": True}, False, "GetAllEnvironmentStatus"),
        ({"groupId": 3, "enabled": True}, N, True, "GetAllEnvironmentStatus.enabled"),
        ({"message": "?"}, {"isAllEnvironments": False}, False, "detail.isAllEnvironments"),
        (N, {"hasAllEnvironmentsAccess": True}, True, "detail.hasAllEnvironmentsAccess"),
        (N, {"AllEnvironments": False}, False, "detail.AllEnvironments"),
        (N, {"environments": ["A", "*"]}, True, "detail.environments"),
        (N, {"permissions": [{"module": "All Environments", "permissionLevel": "Edit"}]},
         True, "detail.permissions"),
        (N, {"modules": {"x": [{"name": "All Environments", "level": "None"}]}},
         False, "detail.permissions"),
        (N, {"All Environments": "View"}, True, "detail.permissions"),
        (N, {"environments": ["A"], "description": "?"}, None, None),
        (N, N, None, None),
        ("yes", [], None, None),
    ],
)
def test_all_environments_state_in_the_documented_order(
    status: Any, detail: Any, state: bool | None, source: str | None
) -> None:
    drift = shapes.DriftLog()
    assert shapes.decide_all_environments(5, status, detail, drift) == (state, source)
    if state is None:
        assert ("GetPermissionGroup", "group 5") in {(d.endpoint, d.field) for d in drift.notes}


def test_cards_roles_and_version() -> None:
    drift = shapes.DriftLog()
    assert shapes.parse_group_cards([{"id": 1, "name": "Admins", "x": 1}], drift) == [(1, "Admins")]
    with pytest.raises(ShapeError, match=r"^GetPermissionsGroupCards: item 0: .* integer id"):
        shapes.parse_group_cards([{"name": "Admins"}], drift)
    roles = shapes.parse_soc_roles([{"id": 2, "name": "Tier1", "isPredefined": True}], drift)
    assert [(r.id, r.name) for r in roles] == [(2, "Tier1")]
    with pytest.raises(ShapeError, match=r"^GetSocRoles: expected a JSON array"):
        shapes.parse_soc_roles({"objectsList": []}, drift)
    assert shapes.parse_system_version("6.3.47.0", drift) == "6.3.47.0"
    assert shapes.parse_system_version({"Version": "6.2"}, drift) == "6.2"
    assert shapes.parse_system_version([], drift) is None
