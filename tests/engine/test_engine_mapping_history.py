"""A Group Mapping entry's first sight comes from the state store's history: the first complete
audit that listed it (since it was last absent), exact while that audit is stored, an upper
bound once retention pruned it. Then SOAR-MAP-001 across real recorded audits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from engine_factory import MAPPING_PREFIX, NOW, by_name, inventory, mapping, run

from auditor.result import RunResult, TenantResult
from auditor.soar.models import IdpMapping, Inventory
from auditor.state import Store, open_store

DAY = timedelta(days=1)
T0 = NOW - 30 * DAY
ENVS = ("Default Environment", "Acme")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path}/state.db", retention_days=10)
    yield opened
    opened.close()


def tenant_at(at: datetime, *maps: IdpMapping, envs: tuple[str, ...] = ENVS,
              chronicle: bool = True) -> Inventory:
    return inventory([], envs, mappings=maps, at=at,
                     surfaces=["legacy", "chronicle"] if chronicle else ["legacy"])


def record(store: Store, inv: Inventory) -> None:
    at = inv.collected_at
    store.record_run(RunResult(
        run_id=at.strftime("%Y%m%dT%H%M%SZ"), started_at=at, finished_at=at + DAY / 100,
        tool_version="test", tenants=[TenantResult(inv.tenant, "ok", None, inv.counts())],
        findings=[], inventories={inv.tenant: inv}))


def name(ident: str) -> str:
    return MAPPING_PREFIX + ident


def test_first_seen_is_the_first_audit_that_listed_the_entry(store: Store) -> None:
    record(store, tenant_at(T0, mapping("old")))
    record(store, tenant_at(T0 + DAY, mapping("old"), mapping("new")))
    record(store, tenant_at(T0 + 2 * DAY, mapping("old"), mapping("new")))
    hist = store.tenant_history("acme")
    assert hist.mapping_first_seen == {name("old"): T0, name("new"): T0 + DAY}
    assert hist.mapping_first_seen_by == {}


def test_an_entry_absent_once_is_new_again(store: Store) -> None:
    record(store, tenant_at(T0, mapping("flaky")))
    record(store, tenant_at(T0 + DAY, mapping("other")))
    record(store, tenant_at(T0 + 2 * DAY, mapping("flaky"), mapping("other")))
    hist = store.tenant_history("acme")
    assert hist.mapping_first_seen == {name("flaky"): T0 + 2 * DAY, name("other"): T0 + DAY}


def test_audits_that_did_not_read_group_mapping_end_the_walk(store: Store) -> None:
    record(store, tenant_at(T0, mapping("m")))
    record(store, tenant_at(T0 + DAY, chronicle=False))
    record(store, tenant_at(T0 + 2 * DAY, mapping("m")))
    assert store.tenant_history("acme").mapping_first_seen == {name("m"): T0 + 2 * DAY}
    record(store, tenant_at(T0 + 3 * DAY, chronicle=False))
    assert store.tenant_history("acme").mapping_first_seen == {}  # nothing listed last time


def test_a_pruned_first_listing_leaves_an_upper_bound(store: Store) -> None:
    # retention 10 days: after 20 daily audits the first ones are gone
    for day in range(20):
        record(store, tenant_at(T0 + day * DAY, mapping("m"),
                                *([mapping("late")] if day >= 15 else [])))
    hist = store.tenant_history("acme")
    assert hist.first_complete_audit_at == T0
    assert hist.mapping_first_seen == {name("late"): T0 + 15 * DAY}
    (bound,) = hist.mapping_first_seen_by.values()
    assert set(hist.mapping_first_seen_by) == {name("m")}
    assert T0 < bound <= T0 + 10 * DAY  # the oldest stored audit


def test_map_001_over_recorded_audits_with_a_new_environment(store: Store) -> None:
    snap = mapping("snap", envs=ENVS)
    first = tenant_at(T0, snap)
    assert set(by_name(run(first, store.tenant_history("acme"), now=T0), "SOAR-MAP-001")) == {
        "snap"}
    record(store, first)
    # Globex appears; an entry created with the three is a snapshot again, one created with
    # the old two is not (Globex existed at its first sight).
    second = tenant_at(T0 + DAY, snap, mapping("two", envs=ENVS),
                       mapping("three", envs=(*ENVS, "Globex")), envs=(*ENVS, "Globex"))
    found = by_name(run(second, store.tenant_history("acme"), now=T0 + DAY), "SOAR-MAP-001")
    assert set(found) == {"snap", "three"}
    assert found["snap"].evidence["missing_environments"] == ["Globex"]
    record(store, second)
    third = tenant_at(T0 + 2 * DAY, snap, mapping("two", envs=ENVS),
                      mapping("three", envs=(*ENVS, "Globex")), envs=(*ENVS, "Globex"))
    hist = store.tenant_history("acme")
    assert hist.mapping_first_seen[name("three")] == T0 + DAY
    found = by_name(run(third, hist, now=T0 + 2 * DAY), "SOAR-MAP-001")
    assert set(found) == {"snap", "three"}  # the same verdicts one audit later
    assert found["three"].evidence["first_seen"] == "2026-10-28T02:00:00Z"
