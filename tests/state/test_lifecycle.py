"""Finding lifecycle through successive runs, at the Store API level, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from state_helpers import DAY, T0, by_key, finding, inventory, key, run

from auditor.state import Store


def test_first_run_everything_is_new_with_first_seen(store: Store) -> None:
    result = run(T0, {"acme": [finding("SOAR-PG-001", 1), finding("SOAR-AGE-001", 2)]})
    store.record_run(result)
    assert {f.lifecycle for f in result.findings} == {"new"}
    assert all(f.first_seen == T0 for f in result.findings)
    assert result.summary()["new"] == 2
    assert result.summary()["resolved"] == 0


def test_open_keeps_first_seen(store: Store) -> None:
    store.record_run(run(T0, {"acme": [finding("SOAR-PG-001", 1)]}))
    second = run(T0 + DAY, {"acme": [finding("SOAR-PG-001", 1), finding("SOAR-AGE-001", 2)]})
    store.record_run(second)
    assert by_key(second) == {
        ("acme", "SOAR-PG-001", 1): ("fail", "open"),
        ("acme", "SOAR-AGE-001", 2): ("fail", "new"),
    }
    first_seen = {f.rule_id: f.first_seen for f in second.findings}
    assert first_seen == {"SOAR-PG-001": T0, "SOAR-AGE-001": T0 + DAY}
    assert second.summary()["new"] == 1


def test_resolved_is_listed_once(store: Store) -> None:
    store.record_run(run(T0, {"acme": [finding("SOAR-PG-001", 1), finding("SOAR-AGE-001", 2)]}))
    second = run(T0 + DAY, {"acme": [finding("SOAR-AGE-001", 2)]})
    store.record_run(second)
    resolved = [f for f in second.findings if f.status == "resolved"]
    assert len(resolved) == 1
    gone = resolved[0]
    assert (gone.rule_id, gone.resource.id, gone.lifecycle) == ("SOAR-PG-001", 1, "resolved")
    assert gone.first_seen == T0
    assert gone.severity == "high" and gone.title == "title of SOAR-PG-001"
    assert gone.evidence["previous_status"] == "fail"
    assert gone.id == finding("SOAR-PG-001", 1).id  # same fingerprint
    assert second.summary()["resolved"] == 1

    third = run(T0 + 2 * DAY, {"acme": [finding("SOAR-AGE-001", 2)]})
    store.record_run(third)
    assert by_key(third) == {("acme", "SOAR-AGE-001", 2): ("fail", "open")}


def test_reopened_keeps_original_first_seen(store: Store) -> None:
    store.record_run(run(T0, {"acme": [finding("SOAR-PG-001", 1)]}))
    store.record_run(run(T0 + DAY, {"acme": []}))
    again = run(T0 + 2 * DAY, {"acme": [finding("SOAR-PG-001", 1)]})
    store.record_run(again)
    assert by_key(again) == {("acme", "SOAR-PG-001", 1): ("fail", "reopened")}
    assert again.findings[0].first_seen == T0
    assert again.summary()["new"] == 0
    fourth = run(T0 + 3 * DAY, {"acme": [finding("SOAR-PG-001", 1)]})
    store.record_run(fourth)
    assert by_key(fourth) == {("acme", "SOAR-PG-001", 1): ("fail", "open")}


def test_status_changes_stay_open_and_unknown_or_muted_resolve(store: Store) -> None:
    store.record_run(
        run(
            T0,
            {
                "acme": [
                    finding("SOAR-ENV-001", 1, status="unknown"),
                    finding("SOAR-PG-001", 2, status="muted"),
                    finding("SOAR-AGE-001", 3),
                ]
            },
        )
    )
    second = run(
        T0 + DAY,
        {
            "acme": [
                finding("SOAR-ENV-001", 1, status="fail"),
                finding("SOAR-AGE-001", 3, "acme", "muted"),
            ]
        },
    )
    store.record_run(second)
    assert by_key(second) == {
        ("acme", "SOAR-ENV-001", 1): ("fail", "open"),
        ("acme", "SOAR-AGE-001", 3): ("muted", "open"),
        ("acme", "SOAR-PG-001", 2): ("resolved", "resolved"),
    }
    third = run(T0 + 2 * DAY, {"acme": [finding("SOAR-AGE-001", 3)]})
    store.record_run(third)
    assert by_key(third)[("acme", "SOAR-ENV-001", 1)] == ("resolved", "resolved")


def test_deleted_key_resolves_with_reason(store: Store) -> None:
    inv1 = inventory(keys=(key(1), key(2)))
    store.record_run(
        run(T0, {"acme": [finding("SOAR-PG-001", 1), finding("SOAR-PG-001", 2)]}, {"acme": inv1})
    )
    inv2 = inventory(keys=(key(2),), at=T0 + DAY)
    second = run(T0 + DAY, {"acme": []}, {"acme": inv2})
    store.record_run(second)
    messages = {f.resource.id: f for f in second.findings}
    assert messages[1].evidence["key_deleted"] is True
    assert "no longer exists" in messages[1].message
    assert messages[2].evidence["key_deleted"] is False
    assert "passes now" in messages[2].message


def test_failed_tenant_changes_no_lifecycle(store: Store) -> None:
    store.record_run(
        run(T0, {"acme": [finding("SOAR-PG-001", 1)], "beta": [finding("SOAR-PG-001", 1, "beta")]})
    )
    # acme cannot be collected: its finding is neither resolved nor repeated; beta goes on.
    second = run(T0 + DAY, {"acme": "HTTP 503 from /api/external/v1/settings", "beta": []})
    store.record_run(second)
    assert second.status == "incomplete"
    assert by_key(second) == {
        ("acme", "SOAR-AUDIT-001", None): ("fail", "new"),
        ("beta", "SOAR-PG-001", 1): ("resolved", "resolved"),
    }
    third = run(T0 + 2 * DAY, {"acme": "timeout", "beta": []})
    store.record_run(third)
    assert by_key(third) == {("acme", "SOAR-AUDIT-001", None): ("fail", "open")}
    # acme is back: its key finding is still open (not new), the audit finding resolves.
    fourth = run(T0 + 3 * DAY, {"acme": [finding("SOAR-PG-001", 1)], "beta": []})
    store.record_run(fourth)
    assert by_key(fourth) == {
        ("acme", "SOAR-PG-001", 1): ("fail", "open"),
        ("acme", "SOAR-AUDIT-001", None): ("resolved", "resolved"),
    }
    assert next(f for f in fourth.findings if f.rule_id == "SOAR-PG-001").first_seen == T0
    fifth = run(T0 + 4 * DAY, {"acme": "timeout", "beta": []})
    store.record_run(fifth)
    assert by_key(fifth) == {("acme", "SOAR-AUDIT-001", None): ("fail", "reopened")}


def test_failed_tenant_keeps_history(store: Store) -> None:
    inv = inventory(keys=(key(1),), envs=("Default", "Prod"))
    store.record_run(run(T0, {"acme": []}, {"acme": inv}))
    store.record_run(run(T0 + DAY, {"acme": "HTTP 401"}))
    history = store.tenant_history("acme")
    assert history.previous_inventory == inv
    assert history.previous_audit_at == T0


def test_tenants_are_independent(store: Store) -> None:
    store.record_run(run(T0, {"acme": [finding("SOAR-PG-001", 1)], "beta": []}))
    second = run(
        T0 + DAY, {"acme": [finding("SOAR-PG-001", 1)], "beta": [finding("SOAR-PG-001", 1, "beta")]}
    )
    store.record_run(second)
    assert by_key(second) == {
        ("acme", "SOAR-PG-001", 1): ("fail", "open"),
        ("beta", "SOAR-PG-001", 1): ("fail", "new"),
    }


def test_tenant_history_environments(store: Store) -> None:
    assert store.tenant_history("acme").previous_inventory is None
    inv1 = inventory(keys=(key(1),), envs=("Default", "Prod"), at=T0 + timedelta(seconds=60))
    store.record_run(run(T0, {"acme": []}, {"acme": inv1}))
    h1 = store.tenant_history("acme")
    assert h1.has_complete_audit and h1.previous_inventory == inv1
    assert h1.first_complete_audit_at == inv1.collected_at
    assert h1.env_first_seen == {"Default": inv1.collected_at, "Prod": inv1.collected_at}

    inv2 = inventory(keys=(key(1), key(2)), envs=("Default", "Prod", "Lab"), at=T0 + DAY)
    store.record_run(run(T0 + DAY, {"acme": []}, {"acme": inv2}))
    h2 = store.tenant_history("acme")
    assert h2.previous_inventory == inv2 and h2.previous_audit_at == inv2.collected_at
    assert h2.first_complete_audit_at == inv1.collected_at
    assert h2.env_first_seen["Lab"] == inv2.collected_at
    assert h2.env_first_seen["Prod"] == inv1.collected_at

    # Prod deleted, then created again: first seen again.
    store.record_run(
        run(T0 + 2 * DAY, {"acme": []}, {"acme": inventory(envs=("Default",), at=T0 + 2 * DAY)})
    )
    store.record_run(
        run(
            T0 + 3 * DAY,
            {"acme": []},
            {"acme": inventory(envs=("Default", "Prod"), at=T0 + 3 * DAY)},
        )
    )
    h4 = store.tenant_history("acme")
    assert h4.env_first_seen == {"Default": inv1.collected_at, "Prod": T0 + 3 * DAY}


def test_duplicate_findings_in_one_run(store: Store) -> None:
    result = run(T0, {"acme": [finding("SOAR-PG-001", 1), finding("SOAR-PG-001", 1)]})
    store.record_run(result)
    assert [f.lifecycle for f in result.findings] == ["new", "new"]
    second = run(T0 + DAY, {"acme": [finding("SOAR-PG-001", 1)]})
    store.record_run(second)
    assert by_key(second) == {("acme", "SOAR-PG-001", 1): ("fail", "open")}
