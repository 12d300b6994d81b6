"""A damaged row in the state store (edited by hand, a bad restore): named, and left out where
that is safe (history, the trend, the last audit time); the tenant history an audit builds on
stops the audit with one line instead."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from state_helpers import DAY, T0, finding, run

from auditor.cli import main
from auditor.state import Store, StoreError, open_store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def two_runs(db: Path) -> tuple[str, str]:
    with open_store(f"sqlite:///{db}") as store:
        first = run(T0, {"acme": [finding("SOAR-PG-001", 1)]})
        second = run(T0 + DAY, {"acme": [finding("SOAR-PG-001", 1), finding("SOAR-AGE-001", 2)]})
        store.record_run(first)
        store.record_run(second)
    return first.run_id, second.run_id


def damage(db: Path, sql: str, *args: str) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute(sql, args).rowcount == 1


def test_history_names_the_damaged_run_and_goes_on(db: Path, two_runs: tuple[str, str],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    first, second = two_runs
    damage(db, "UPDATE runs SET started_at = 'not a date' WHERE id = ?", first)
    with open_store(f"sqlite:///{db}") as store, caplog.at_level(logging.WARNING):
        assert [r.run_id for r in store.history()] == [second]
        assert [p.run_id for p in store.runs()] == [second]
        assert store.last_run_started() == T0 + DAY
    assert (f"state: runs row {first!r}: started_at 'not a date' is not a date and time; the run "
            "is left out of the history") in caplog.messages
    assert any("left out of the trend" in m for m in caplog.messages)


def test_other_damage_in_listings(db: Path, two_runs: tuple[str, str],
                                  caplog: pytest.LogCaptureFixture) -> None:
    first, second = two_runs
    damage(db, "UPDATE runs SET by_severity = '{oops' WHERE id = ?", second)
    damage(db, "UPDATE runs SET finished_at = 'yesterday' WHERE id = ?", first)
    damage(db, "UPDATE tenant_runs SET counts = '[' WHERE run_id = ?", first)
    with open_store(f"sqlite:///{db}") as store, caplog.at_level(logging.WARNING):
        assert [r.run_id for r in store.history()] == []
        assert [p.run_id for p in store.runs()] == [first]
        assert store.last_successful_audit() is not None  # the readable one
    text = "\n".join(caplog.messages)
    assert f"runs row {second!r}: by_severity '{{oops' is not JSON" in text
    assert f"runs row {first!r}: finished_at 'yesterday' is not a date and time" in text
    assert f"tenant_runs row ({first!r}, 'acme'): counts '[' is not JSON" in text


def test_the_tenant_history_of_an_audit_stops_with_one_line(db: Path,
                                                            two_runs: tuple[str, str]) -> None:
    damage(db, "UPDATE tenants SET last_complete_audit_at = 'garbage' WHERE name = ?", "acme")
    with open_store(f"sqlite:///{db}") as store, pytest.raises(StoreError) as caught:
        store.tenant_history("acme")
    assert str(caught.value) == ("state: tenants row 'acme': last_complete_audit_at 'garbage' "
                                 "is not a date and time")


def test_a_damaged_finding_state_or_document_is_one_store_error(db: Path,
                                                                two_runs: tuple[str, str]) -> None:
    first, _ = two_runs
    damage(db, "UPDATE runs SET document = X'00112233' WHERE id = ?", first)
    damage(db, "UPDATE findings SET first_seen = 'never' WHERE fingerprint = "
               "(SELECT fingerprint FROM findings LIMIT 1)")
    store: Store
    with open_store(f"sqlite:///{db}") as store:
        with pytest.raises(StoreError, match=rf"state: loading run {first} failed on .*: a "
                                             r"stored value cannot be read \(.*\); the store "
                                             "may be damaged"):
            store.load_run(first)
        with pytest.raises(StoreError, match=r"recording run .* failed on .*: a stored value "
                                             r"cannot be read"):
            store.record_run(run(T0 + 2 * DAY, {"acme": [finding("SOAR-PG-001", 1)]}))


def test_the_history_command_lists_the_rest(db: Path, two_runs: tuple[str, str]) -> None:
    first, second = two_runs
    damage(db, "UPDATE runs SET started_at = 'not a date' WHERE id = ?", first)
    result = CliRunner().invoke(main, ["history", "--format", "json"],
                                env={"SOAR_AUDITOR_STATE": f"sqlite:///{db}"})
    assert result.exit_code == 0, result.output
    assert second in result.stdout and first not in result.stdout
    assert "Traceback" not in result.output
