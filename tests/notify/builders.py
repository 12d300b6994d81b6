"""RunResult values for the notify tests, built directly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from auditor.engine.findings import Finding, Resource
from auditor.result import RunResult, TenantResult

STARTED = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)

TITLES = {
    "SOAR-PG-001": ("critical", "Administrative permission group"),
    "SOAR-ENV-001": ("high", "Snapshot of all current environments"),
    "SOAR-ROLE-001": ("high", "Privileged SOC role"),
    "SOAR-AGE-001": ("medium", "Not rotated"),
    "SOAR-NAME-001": ("low", "Naming convention"),
    "SOAR-AUDIT-001": ("high", "Tenant not audited"),
}


def finding(rule_id: str = "SOAR-PG-001", *, tenant: str = "acme-prod", key: str = "ci-bot",
            key_id: int | None = 7, lifecycle: str = "new", status: str = "fail",
            severity: str | None = None, message: str | None = None,
            first_seen: datetime | None = None) -> Finding:
    sev, title = TITLES.get(rule_id, ("medium", rule_id))
    tenant_level = rule_id == "SOAR-AUDIT-001"
    return Finding(
        rule_id=rule_id, title=title, severity=severity or sev,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        tenant=tenant,
        resource=Resource("tenant", None, tenant) if tenant_level else Resource("api_key", key_id,
                                                                                 key),
        message=message or f"{key} breaks {rule_id}",
        remediation="fix it", lifecycle=lifecycle,  # type: ignore[arg-type]
        first_seen=first_seen or STARTED,
    )


def result(findings: list[Finding], *, tenants: tuple[str, ...] = ("acme-prod",),
           errors: dict[str, str] | None = None, run_id: str = "20261126T020000Z",
           started: datetime = STARTED, **kw: Any) -> RunResult:
    errors = errors or {}
    return RunResult(
        run_id=run_id, started_at=started, finished_at=started, tool_version="0.1.0",
        tenants=[TenantResult(name, "error" if name in errors else "ok", errors.get(name),
                              {"api_keys": 3}) for name in tenants],
        findings=findings, **kw)
