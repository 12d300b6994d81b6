"""The health verdicts (auditor.schedule.checks): healthy, overdue, stale, stuck, ready."""

from __future__ import annotations

from datetime import timedelta

from health_builders import DAILY, NOW, SLOT, health_after_audit, result, snap

from auditor.schedule.checks import check, readiness_problems
from auditor.schedule.record import Health


def test_healthy_after_the_audit_of_the_latest_slot() -> None:
    assert check(snap(health_after_audit(SLOT + timedelta(seconds=1))), NOW) == []


def test_success_is_a_complete_audit_and_readiness_says_whether_the_last_one_was() -> None:
    incomplete = health_after_audit(SLOT + timedelta(seconds=1))
    # The scheduler did its job for the slot (not overdue: a tenant it could not collect is a
    # finding), but the results are not to be trusted: not ready, and no success.
    assert check(snap(incomplete), NOW) == []
    (problem,) = readiness_problems(snap(incomplete))
    assert problem.startswith("not ready: the last audit (20261126T020001Z) is incomplete")
    assert "not collected: globex" in problem and "last complete audit: never" in problem
    assert incomplete.last_success is None

    complete = health_after_audit(SLOT + timedelta(seconds=1), complete=True)
    assert readiness_problems(snap(complete)) == []
    assert complete.last_success == SLOT + timedelta(seconds=43)  # when it finished
    # A complete audit, then an incomplete one: the last success stays the complete one.
    complete.audit_started(SLOT + timedelta(hours=1), "r2")
    complete.audit_finished(result(SLOT + timedelta(hours=1)), SLOT, SLOT + timedelta(hours=1))
    assert complete.last_success == SLOT + timedelta(seconds=43)
    assert readiness_problems(snap(complete))
    fresh = Health(schedule=DAILY, misfire_grace_seconds=3600, heartbeat_interval_seconds=30)
    assert readiness_problems(snap(fresh)) == ["not ready: no audit has finished yet"]


def test_overdue_when_the_latest_slot_was_missed() -> None:
    health = health_after_audit(SLOT - timedelta(days=1), SLOT - timedelta(days=1))
    problems = check(snap(health), NOW)
    assert len(problems) == 1 and problems[0].startswith("overdue")
    assert "2026-11-26T02:00:00Z" in problems[0]
    # Within the misfire grace time after the slot it is not overdue yet.
    assert check(snap(health, SLOT + timedelta(minutes=30)), SLOT + timedelta(minutes=30)) == []
    # An audit running for the slot is what should happen.
    running = snap(health, state="running", last_start="2026-11-26T08:30:00Z")
    assert check(running, NOW) == []
    # Another replica audited the slot (a shared store).
    health.slot_done_elsewhere(SLOT)
    assert check(snap(health), NOW) == []


def test_a_failed_audit_does_not_count_as_success() -> None:
    health = health_after_audit(SLOT - timedelta(days=1), SLOT - timedelta(days=1))
    health.audit_started(SLOT, "r2")
    health.audit_failed("error", "state store down", SLOT + timedelta(seconds=3))
    assert any(p.startswith("overdue") for p in check(snap(health), NOW))


def test_stale_heartbeat() -> None:
    data = snap(health_after_audit(SLOT), updated_at=(NOW - timedelta(minutes=10)).isoformat())
    problems = check(data, NOW)
    assert len(problems) == 1 and "stale" in problems[0]
    assert check(data, NOW, max_heartbeat_age=3600) == []


def test_stuck_audit() -> None:
    data = snap(health_after_audit(SLOT), state="running",
                last_start=(NOW - timedelta(hours=7)).isoformat())
    problems = check(data, NOW)
    assert any(p.startswith("stuck") for p in problems)
    assert check(data, NOW, max_audit_seconds=8 * 3600) == []


def test_stopped_scheduler_is_unhealthy() -> None:
    problems = check(snap(health_after_audit(SLOT), state="stopped"), NOW)
    assert problems and "stopped" in problems[0]


def test_liveness_ignores_overdue_audits() -> None:
    health = health_after_audit(SLOT - timedelta(days=1), SLOT - timedelta(days=1))
    assert check(snap(health), NOW, overdue=False) == []
    stale = snap(health, updated_at=(NOW - timedelta(hours=1)).isoformat())
    assert check(stale, NOW, overdue=False)


def test_interval_schedules_are_checked_too() -> None:
    health = Health(schedule={"interval_seconds": 60}, misfire_grace_seconds=30,
                    heartbeat_interval_seconds=1)
    later = NOW + timedelta(seconds=45)  # 45 s after a slot, 30 s grace, no audit yet
    assert any(p.startswith("overdue") for p in check(snap(health, later), later))
    assert check(snap(health, NOW + timedelta(seconds=20)), NOW + timedelta(seconds=20)) == []
