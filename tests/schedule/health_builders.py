"""Builders of the health tests: audits, a health record after one, its snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.clock import SYSTEM_CLOCK, Clock
from auditor.engine.findings import Finding, Resource
from auditor.result import RunResult, TenantResult
from auditor.schedule.record import Health

DAILY = {"cron": "0 2 * * *", "timezone": "UTC"}
SLOT = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # the latest daily slot before NOW
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def finding(severity: str, status: str = "fail", tenant: str = "acme") -> Finding:
    return Finding(rule_id="SOAR-ENV-001", title="t", severity=severity,  # type: ignore[arg-type]
                   status=status, tenant=tenant,  # type: ignore[arg-type]
                   resource=Resource("api_key", 7, "ci-bot"), message="m", remediation="r")


def result(start: datetime, *, complete: bool = False) -> RunResult:
    """An incomplete audit (globex not collected), or a complete one."""
    tenants = [TenantResult("acme", "ok", None, {"api_keys": 3})]
    if not complete:
        tenants.append(TenantResult("globex", "error", "HTTP 401", {}))
    return RunResult(
        run_id=start.strftime("%Y%m%dT%H%M%SZ"), started_at=start,
        finished_at=start + timedelta(seconds=42), tool_version="0.1.0",
        tenants=tenants,
        findings=[finding("high"), finding("high"), finding("critical"), finding("low", "muted"),
                  finding("medium", "unknown")],
    )


def health_after_audit(start: datetime, slot: datetime | None = SLOT, *,
                       complete: bool = False, clock: Clock = SYSTEM_CLOCK) -> Health:
    health = Health(schedule=DAILY, misfire_grace_seconds=3600, heartbeat_interval_seconds=30,
                    clock=clock)
    health.audit_started(start, "run")
    health.audit_finished(result(start, complete=complete), slot, start + timedelta(seconds=42))
    return health


def snap(health: Health, now: datetime = NOW, **changes: Any) -> dict[str, Any]:
    data = health.snapshot()
    data["updated_at"] = (now - timedelta(seconds=5)).isoformat()
    data.update(changes)
    return data
