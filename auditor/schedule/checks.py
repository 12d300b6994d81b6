"""Whether the scheduler is healthy and whether its results are ready, decided from the heartbeat
document alone (:func:`check`, :func:`readiness_problems`): for ``soar-auditor healthcheck``
(which reads the file) and for /healthz and /readyz (which read the record in memory).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from auditor.clock import SYSTEM_CLOCK, Clock, iso
from auditor.schedule.crontab import CrontabTrigger, interval_trigger, previous_fire_time
from auditor.schedule.heartbeat import parse_time

DEFAULT_MAX_AUDIT_SECONDS = 6 * 3600


def _trigger(schedule: Mapping[str, Any]) -> Any:
    if schedule.get("interval_seconds"):
        return interval_trigger(float(schedule["interval_seconds"]))
    cron = str(schedule.get("cron", "0 2 * * *"))
    return CrontabTrigger(cron, str(schedule.get("timezone", "UTC")))


def check(
    data: Mapping[str, Any],
    now: datetime | None = None,
    *,
    max_audit_seconds: float = DEFAULT_MAX_AUDIT_SECONDS,
    max_heartbeat_age: float | None = None,
    overdue: bool = True,
    clock: Clock = SYSTEM_CLOCK,
) -> list[str]:
    """The problems that make the scheduler unhealthy (an empty list: healthy).

    - stopped: the daemon wrote that it stopped;
    - stale: the heartbeat has not been refreshed for ``max_heartbeat_age`` seconds (default:
      4 heartbeat intervals + 10 s), so the daemon is dead or hung;
    - stuck: an audit has been running for longer than ``max_audit_seconds``;
    - overdue: the latest scheduled slot is older than the misfire grace time and no audit
      succeeded for it (here or, with a shared store, on another replica). ``overdue=False``
      leaves this out (a liveness probe: restarting a live scheduler cannot make audits succeed).

    ``now`` defaults to ``clock``'s time.
    """
    now = now or clock.now()
    problems: list[str] = []
    try:
        state = str(data.get("state"))
        updated = parse_time(data.get("updated_at"))
        last_start = parse_time(data.get("last_start"))
        last_success = parse_time(data.get("last_success"))
        last_slot = parse_time(data.get("last_slot"))
        interval = float(data.get("heartbeat_interval_seconds") or 30)
        grace = float(data.get("misfire_grace_seconds") or 3600)
        trigger = _trigger(data.get("schedule") or {})
    except (TypeError, ValueError) as exc:
        return [f"the heartbeat is malformed: {exc}"]
    if state == "stopped":
        problems.append(f"the scheduler (pid {data.get('pid')}) has stopped")
        return problems
    limit = max_heartbeat_age if max_heartbeat_age is not None else 4 * interval + 10
    if updated is None or (now - updated).total_seconds() > limit:
        age = "never" if updated is None else f"{(now - updated).total_seconds():.0f} s ago"
        problems.append(f"the heartbeat is stale (last written {age}, limit {limit:.0f} s)")
    if state == "running" and last_start is not None:
        running = (now - last_start).total_seconds()
        if running > max_audit_seconds:
            problems.append(
                f"stuck: the audit started at {iso(last_start)} has been running for "
                f"{running:.0f} s (limit {max_audit_seconds:.0f} s)"
            )
    slot = previous_fire_time(trigger, now) if overdue else None
    if slot is not None and (now - slot).total_seconds() > grace:
        covered = (last_slot is not None and last_slot >= slot) or (
            last_success is not None and last_success >= slot
        )
        auditing = state == "running" and last_start is not None and last_start >= slot
        if not covered and not auditing:
            problems.append(
                f"overdue: no audit since the slot of {iso(slot)} "
                f"(last complete audit: {iso(last_success) or 'never'}, grace {grace:.0f} s)"
            )
    return problems


def readiness_problems(data: Mapping[str, Any]) -> list[str]:
    """Why the results are not to be trusted yet (empty: ready): the last audit that finished
    must have been complete, every tenant collected in full."""
    status = data.get("last_status")
    run = data.get("last_run_id")
    if status is None:
        return ["not ready: no audit has finished yet"]
    if status == "complete":
        return []
    failed = data.get("tenants_failed") or []
    detail = f"; not collected: {', '.join(map(str, failed))}" if failed else ""
    error = f": {data.get('last_error')}" if data.get("last_error") else ""
    return [f"not ready: the last audit{f' ({run})' if run else ''} is {status}{error}{detail} "
            f"(last complete audit: {data.get('last_success') or 'never'})"]


__all__ = ["DEFAULT_MAX_AUDIT_SECONDS", "check", "readiness_problems"]
