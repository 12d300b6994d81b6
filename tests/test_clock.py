"""One injectable clock (auditor/clock.py): every "now" of the product comes from it, so a test, the
simulator and the audit share one moment, and no result depends on the day the suite runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from auditor.cli import clock_of, main
from auditor.clock import SYSTEM_CLOCK, Clock, FixedClock, SystemClock
from auditor.config import Config, parse_config
from auditor.pipeline import run_audit, run_id_for
from auditor.result import RunResult, iso
from auditor.schedule.checks import check
from auditor.schedule.daemon import Scheduler
from auditor.schedule.record import Health
from auditor.state import open_store
from tests.conftest import TEST_NOW

FAR = timedelta(days=400)


def test_fixed_clock_stands_still_until_moved() -> None:
    clock = FixedClock(TEST_NOW)
    assert clock.now() == clock.now() == TEST_NOW
    assert clock.advance(timedelta(hours=2)) == TEST_NOW + timedelta(hours=2) == clock.now()
    clock.advance(-timedelta(days=1))
    assert clock.now() == TEST_NOW - timedelta(hours=22)
    clock.set(TEST_NOW + FAR)
    assert clock.now() == TEST_NOW + FAR
    paris = FixedClock(datetime(2026, 11, 26, 3, 0, tzinfo=timezone(timedelta(hours=1))))
    assert paris.now() == TEST_NOW and paris.now().tzinfo is UTC
    assert "2026-11-26T02:00:00+00:00" in repr(FixedClock(TEST_NOW))


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        FixedClock(datetime(2026, 11, 26, 2, 0))
    with pytest.raises(ValueError, match="aware"):
        FixedClock(TEST_NOW).set(datetime(2026, 11, 26))


def test_the_system_clock_is_aware_utc() -> None:
    before = datetime.now(UTC)
    now = SYSTEM_CLOCK.now()
    assert now.tzinfo is UTC and before <= now <= datetime.now(UTC)
    assert isinstance(SYSTEM_CLOCK, SystemClock)
    assert isinstance(SYSTEM_CLOCK, Clock) and isinstance(FixedClock(TEST_NOW), Clock)


def test_the_fixture_clock_is_test_now(clock: FixedClock) -> None:
    assert clock.now() == TEST_NOW


# -- the store ------------------------------------------------------------------------------------
def test_the_store_dates_its_own_rows_by_its_clock(tmp_path: Path) -> None:
    clock = FixedClock(TEST_NOW + FAR)
    store = open_store(f"sqlite:///{tmp_path}/state.db", clock=clock)
    try:
        clock.advance(timedelta(minutes=5))
        item = store.outbox_add("20280101T020000Z", "default", {"text": "x"})
        assert store.claim_slot("2028-01-01T02:00:00Z", "replica-a")
        clock.advance(timedelta(minutes=5))
        store.outbox_mark_sent(item)
    finally:
        store.close()
    engine = sa.create_engine(f"sqlite:///{tmp_path}/state.db")
    try:
        with engine.connect() as conn:
            upgraded = conn.execute(sa.text("SELECT upgraded_at FROM schema_version")).scalar()
            created, sent = conn.execute(sa.text("SELECT created_at, sent_at FROM outbox")).one()
            claimed = conn.execute(sa.text("SELECT claimed_at FROM slot_claims")).scalar()
    finally:
        engine.dispose()
    at = (TEST_NOW + FAR).replace(tzinfo=None)
    assert str(upgraded).startswith(str(at))
    assert str(created).startswith(str(at + timedelta(minutes=5)))
    assert str(claimed).startswith(str(at + timedelta(minutes=5)))
    assert str(sent).startswith(str(at + timedelta(minutes=10)))


# -- the pipeline and the CLI ---------------------------------------------------------------------
def _config(srv: Any, tmp_path: Path) -> Config:
    return parse_config({
        "tenants": [{"name": "acme-prod", "url": srv.url, "api_key": srv.app_key}],
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        "reports": {"dir": str(tmp_path / "reports"), "formats": ["json"]},
    }, env={})


def _ages(result: RunResult) -> set[tuple[str, int | None, str]]:
    return {(f.rule_id, f.resource.id, f.status) for f in result.findings
            if f.rule_id == "SOAR-AGE-001"}


def test_an_audit_far_in_the_future_judges_the_ages_the_scenario_states(
    start_simulator: Any, tmp_path: Path
) -> None:
    """Regression (issue 10): the simulator and run_audit share a clock, 400 days on or not."""
    verdicts = []
    for offset in (timedelta(0), FAR):
        clock = FixedClock(TEST_NOW + offset)
        srv = start_simulator("demo", clock=clock)
        clock.advance(timedelta(minutes=1))
        folder = tmp_path / f"at-{offset.days}"
        result = run_audit(_config(srv, folder), out_dir=folder / "out", notify=False,
                           clock=clock)
        assert result.status == "complete"
        assert result.started_at == clock.now()
        assert result.run_id == run_id_for(clock.now())
        verdicts.append(_ages(result))
    assert verdicts[0] == verdicts[1]
    assert ("SOAR-AGE-001", 105, "fail") in verdicts[0]  # created_days_ago: 400


def test_the_cli_takes_its_clock_from_the_context(start_simulator: Any, tmp_path: Path) -> None:
    clock = FixedClock(TEST_NOW + FAR)
    srv = start_simulator("demo", clock=clock)
    config = tmp_path / "auditor.yaml"
    config.write_text(json.dumps({
        "tenants": [{"name": "acme-prod", "url": srv.url, "api_key": "${K}"}],
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        "reports": {"dir": str(tmp_path / "reports"), "formats": ["json"]},
    }), encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--out", str(out),
                                       "--no-notify"],
                                env={"K": srv.app_key}, obj={"clock": clock})
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert doc["run"]["id"] == run_id_for(clock.now())


def test_the_demo_runs_on_one_clock(tmp_path: Path) -> None:
    clock = FixedClock(TEST_NOW + FAR)
    out = tmp_path / "demo"
    result = CliRunner().invoke(main, ["demo", "--out", str(out)], obj={"clock": clock})
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    assert doc["run"]["id"] == run_id_for(clock.now())
    assert f"Night 1 ({run_id_for(clock.now() - timedelta(days=1))})" in result.output


def test_without_a_clock_in_the_context_the_cli_uses_the_system_clock() -> None:
    assert clock_of(None) is SYSTEM_CLOCK  # outside any click command
    with main.make_context("soar-auditor", ["--version"], resilient_parsing=True) as ctx:
        assert clock_of(ctx) is SYSTEM_CLOCK
        ctx.obj = {"clock": "not a clock"}
        assert clock_of(ctx) is SYSTEM_CLOCK
        fixed = FixedClock(TEST_NOW)
        ctx.obj = {"clock": fixed}
        assert clock_of(ctx) is fixed


# -- health and the scheduler ---------------------------------------------------------------------
def test_health_dates_its_record_and_its_check_by_its_clock() -> None:
    clock = FixedClock(TEST_NOW + FAR)
    health = Health(schedule={"interval_seconds": 3600}, misfire_grace_seconds=3600,
                    heartbeat_interval_seconds=30, clock=clock)
    assert health.started_at == clock.now()
    clock.advance(timedelta(seconds=10))
    snap = health.snapshot()
    assert snap["updated_at"] == iso(clock.now())
    assert check(snap, clock=clock) == []
    clock.advance(timedelta(hours=1))  # the heartbeat is an hour old by the clock
    assert check(snap, clock=clock) == [
        "the heartbeat is stale (last written 3600 s ago, limit 130 s)"]


def test_the_scheduler_shares_its_clock_with_its_health(tmp_path: Path) -> None:
    config = parse_config({
        "tenants": [{"name": "t", "url": "http://127.0.0.1:1", "api_key": "k" * 8}],
        "reports": {"dir": str(tmp_path / "reports")},
    }, env={})
    clock = FixedClock(TEST_NOW + FAR)
    daemon = Scheduler(tmp_path / "auditor.yaml", config, clock=clock)
    assert daemon.clock is clock and daemon.health.clock is clock
    assert daemon.health.started_at == clock.now()
