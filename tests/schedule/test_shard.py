"""`run --shard I/N` and indexed Jobs: every tenant audited by exactly one shard, stably."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from auditor.schedule.shard import parse_shard, select_shard


@dataclass(frozen=True)
class T:
    name: str


def test_parse_explicit_value() -> None:
    assert parse_shard("0/4", {}) == (0, 4)
    assert parse_shard(" 3/4 ", {}) == (3, 4)
    assert parse_shard("0/1", {}) == (0, 1)


def test_no_value_and_no_job_index_means_every_tenant() -> None:
    assert parse_shard(None, {}) is None
    assert parse_shard("", {"UNRELATED": "1"}) is None


def test_default_from_an_indexed_job() -> None:
    env = {"JOB_COMPLETION_INDEX": "2", "SOAR_AUDITOR_SHARD_COUNT": "5"}
    assert parse_shard(None, env) == (2, 5)
    # An explicit --shard wins over the environment.
    assert parse_shard("1/3", env) == (1, 3)


def test_job_index_without_a_count_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="SOAR_AUDITOR_SHARD_COUNT is not"):
        parse_shard(None, {"JOB_COMPLETION_INDEX": "1"})


@pytest.mark.parametrize("value", ["4/4", "-1/4", "1/0", "a/b", "1", "1/2/3", "1.5/4"])
def test_malformed_values_are_rejected(value: str) -> None:
    with pytest.raises(ValueError, match=r"I/N|shard index"):
        parse_shard(value, {})


def test_malformed_environment_names_its_source() -> None:
    env = {"JOB_COMPLETION_INDEX": "4", "SOAR_AUDITOR_SHARD_COUNT": "4"}
    with pytest.raises(ValueError, match="JOB_COMPLETION_INDEX"):
        parse_shard(None, env)


def test_shards_partition_the_tenants_evenly() -> None:
    tenants = [T(f"tenant-{i:03d}") for i in range(200)]
    for n in (1, 2, 3, 7):
        parts = [select_shard(tenants, (i, n)) for i in range(n)]
        names = [t.name for part in parts for t in part]
        assert sorted(names) == sorted(t.name for t in tenants)  # each exactly once
        assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced
    assert select_shard(tenants, None) == tenants


def test_few_tenants_leave_no_shard_empty() -> None:
    tenants = [T("acme-a"), T("acme-b")]
    assert [[t.name for t in select_shard(tenants, (i, 2))] for i in range(2)] == [
        ["acme-a"], ["acme-b"]]
    assert select_shard(tenants, (2, 3)) == []  # more shards than tenants: nothing to do


def test_order_of_the_configuration_does_not_matter() -> None:
    tenants = [T(f"t{i}") for i in range(30)]
    shuffled = list(reversed(tenants))
    for i in range(3):
        assert {t.name for t in select_shard(tenants, (i, 3))} == {
            t.name for t in select_shard(shuffled, (i, 3))}
    # The selection keeps the configuration's order.
    assert select_shard(shuffled, (0, 3)) == [t for t in shuffled
                                              if t in select_shard(tenants, (0, 3))]
