"""Values the state tests build directly: inventories, findings, runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auditor.engine.findings import Finding, Resource
from auditor.result import RunResult, TenantResult
from auditor.soar.models import ApiKey, Environment, Inventory, PermissionGroup, SocRole

T0 = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def key(
    key_id: int,
    name: str | None = None,
    groups: tuple[int, ...] = (1,),
    roles: tuple[int, ...] = (1,),
    envs: tuple[str, ...] = ("Default",),
) -> ApiKey:
    return ApiKey(
        id=key_id,
        name=name or f"key-{key_id}",
        is_system=False,
        group_ids=groups,
        role_ids=roles,
        environments=envs,
        created_at=T0 - 30 * DAY,
    )


def inventory(
    tenant: str = "acme",
    keys: tuple[ApiKey, ...] = (),
    envs: tuple[str, ...] = ("Default", "Prod"),
    at: datetime = T0,
) -> Inventory:
    return Inventory(
        tenant=tenant,
        collected_at=at,
        environments=tuple(Environment(name=e, id=i) for i, e in enumerate(envs, 1)),
        permission_groups=(PermissionGroup(1, "Operators", False, "test"),),
        soc_roles=(SocRole(1, "Analyst"),),
        api_keys=keys,
    )


def finding(
    rule_id: str,
    key_id: int | None,
    tenant: str = "acme",
    status: str = "fail",
    severity: str = "high",
) -> Finding:
    resource = (
        Resource("tenant", None, tenant)
        if key_id is None
        else Resource("api_key", key_id, f"key-{key_id}")
    )
    return Finding(
        rule_id=rule_id,
        title=f"title of {rule_id}",
        severity=severity,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        tenant=tenant,
        resource=resource,
        message=f"{rule_id} on {resource.name}",
        remediation="fix it",
        evidence={"detail": [1, 2, 3]},
        compliance={"nist-800-53-r5": ["AC-6"]},
    )


def run(
    at: datetime,
    tenants: dict[str, list[Finding] | str],
    inventories: dict[str, Inventory] | None = None,
) -> RunResult:
    """A run at ``at``: each tenant maps to its findings (ok) or to an error message."""
    results: list[TenantResult] = []
    findings: list[Finding] = []
    invs: dict[str, Inventory] = {}
    for name, value in tenants.items():
        if isinstance(value, str):
            results.append(TenantResult(name, "error", value, {}))
            findings.append(finding("SOAR-AUDIT-001", None, tenant=name))
        else:
            inv = (inventories or {}).get(name) or inventory(name, at=at)
            invs[name] = inv
            results.append(TenantResult(name, "ok", None, inv.counts()))
            findings.extend(value)
    return RunResult(
        run_id=at.strftime("%Y%m%dT%H%M%SZ"),
        started_at=at,
        finished_at=at + timedelta(seconds=3),
        tool_version="0.1.0",
        tenants=results,
        findings=findings,
        inventories=invs,
    )


def by_key(result: RunResult) -> dict[tuple[str, str, int | None], tuple[str, str]]:
    """(tenant, rule, key id) -> (status, lifecycle), for compact assertions."""
    return {(f.tenant, f.rule_id, f.resource.id): (f.status, f.lifecycle) for f in result.findings}
