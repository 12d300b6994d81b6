"""Realistic RunResult values for the report tests and benchmarks (built directly, no pipeline).

`build_result(n)` gives n findings spread over tenants and the built-in rules, with evidence,
remediation carrying the SOAR UI path, compliance mappings, muted findings with exceptions,
unknown verdicts, resolved findings, a tenant that could not be collected, drift and notes.
`HOSTILE` names are what an attacker with key-creation rights in a tenant could type.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from auditor.engine.findings import Finding, Resource
from auditor.result import ExceptionStatus, RunPoint, RunResult, TenantResult
from auditor.soar.models import ApiKey, DriftNote, Environment, Inventory, PermissionGroup, SocRole

NOW = datetime(2026, 11, 26, 2, 0, 0, tzinfo=UTC)

HOSTILE = (
    "<img src=x onerror=alert(1)>",
    "</script><script>alert(1)</script>",
    '=HYPERLINK("http://evil.example","x")',
    "<!channel> @here `rm -rf` | pipe",
    "line\nbreak\r\x1b[31mred\x00nul\u2028ls\u202eevil",
    "+cmd|' /C calc'!A0",
    "&lt;already&gt; &amp; <!-- comment",
    "\"quoted\" 'single' {{7*7}} ${7*7}",
)

NIST, CIS, SOC2, ISO = "nist-800-53-r5", "cis-v8", "soc2", "iso27001-2022"
UI = "Settings > Advanced > API keys > {name}"

RULES: list[dict[str, Any]] = [
    {"id": "SOAR-ENV-001", "severity": "high",
     "title": "API key bound to a snapshot of all current environments",
     "description": "The key lists every environment that existed when it was created, so it "
                    "silently misses environments added later.",
     "remediation": UI + ": choose a permission group with All Environments enabled "
                    "(Settings > Organization > Permissions), or narrow the key.",
     "compliance": {NIST: ["AC-6", "AC-2"], ISO: ["A.5.15", "A.5.18"], SOC2: ["CC6.3"]}},
    {"id": "SOAR-ENV-002", "severity": "medium",
     "title": "Wildcard environments without an All Environments group",
     "description": "", "remediation": UI + ": enable All Environments on its group.",
     "compliance": {NIST: ["AC-3"], CIS: ["6.8"]}},
    {"id": "SOAR-ENV-003", "severity": "low", "title": "Stale environment in key scope",
     "description": "", "remediation": UI + ": remove the environments that no longer exist.",
     "compliance": {NIST: ["CM-3"], ISO: ["A.8.32"]}},
    {"id": "SOAR-PG-001", "severity": "critical", "title": "Administrative permission group",
     "description": "", "remediation": UI + ": move the key out of the Admins group.",
     "compliance": {NIST: ["AC-6(5)", "AC-6"], CIS: ["5.4"], SOC2: ["CC6.1"], ISO: ["A.8.2"]}},
    {"id": "SOAR-PG-002", "severity": "medium", "title": "Missing permission group",
     "description": "", "remediation": UI + ": assign a permission group.",
     "compliance": {NIST: ["AC-2"], SOC2: ["CC6.2"]}},
    {"id": "SOAR-ROLE-001", "severity": "high", "title": "Privileged SOC role",
     "description": "", "remediation": UI + ": choose a least-privilege SOC role.",
     "compliance": {NIST: ["AC-6(5)"], CIS: ["5.4"], ISO: ["A.8.2"]}},
    {"id": "SOAR-AGE-001", "severity": "medium", "title": "API key not rotated",
     "description": "", "remediation": UI + ": create a new key, move clients, delete the old.",
     "compliance": {NIST: ["IA-5"], CIS: ["5.2"], ISO: ["A.5.17"]}},
    {"id": "SOAR-NAME-002", "severity": "low", "title": "Shared key name",
     "description": "", "remediation": UI + ": give each key a unique name.",
     "compliance": {NIST: ["AC-2"]}},
    {"id": "SOAR-CHG-001", "severity": "info", "title": "New API key",
     "description": "", "remediation": "Confirm the key was created on purpose.",
     "compliance": {NIST: ["CM-3", "AU-6"], SOC2: ["CC8.1"]}},
    {"id": "SOAR-AUDIT-001", "severity": "high", "title": "Tenant not audited",
     "description": "", "remediation": "Check the tenant URL, the API key and connectivity.",
     "compliance": {NIST: ["AU-6"]}},
]
DOCS_URL = "https://cloud.google.com/chronicle/docs/soar/admin-tasks/permissions/working-with-api-keys"
NIST_URL = "https://csrc.nist.gov/pubs/sp/800/53/r5/upd1/final"
for _rule in RULES:  # what Rule.catalog_entry() gives besides: the risk and the references
    _rule.setdefault("risk", f"Risk of {_rule['id']}: a key with this problem widens access "
                             "without review <b>unless</b> fixed.")
    _rule.setdefault("references", [
        {"title": "Google SecOps SOAR - Manage API keys", "url": DOCS_URL},
        {"title": f"NIST SP 800-53 Rev. 5 ({_rule['id']})", "url": NIST_URL},
    ])
RULE_BY_ID = {r["id"]: r for r in RULES}
ENVS = ["Default Environment", "EMEA", "APAC", "Americas", "Lab", "MSSP-Client-A"]


def _evidence(rule_id: str, rng: random.Random, name: str) -> dict[str, Any]:
    envs = rng.sample(ENVS, k=rng.randint(2, 4))
    evidence: dict[str, Any] = {
        "groups": [{"id": 3, "name": rng.choice(["Admins", "SOC Analysts", "Automation"]),
                    "all_environments": rng.choice([False, None])}],
        "roles": [rng.choice(["Administrator", "Tier 1", "Automation"])],
        "environments": envs,
        "age_days": rng.randint(1, 900),
    }
    if rule_id == "SOAR-ENV-001":
        evidence["environments_at_creation"] = envs
        evidence["missing_environments"] = [e for e in ENVS if e not in envs][:2]
    return evidence


def _finding(i: int, rng: random.Random, tenant: str, rule: dict[str, Any],
             name: str | None = None) -> Finding:
    name = name or f"{rng.choice(['ci', 'playbook', 'siem', 'svc', 'etl'])}-bot-{i}"
    status = rng.choices(["fail", "unknown", "muted", "resolved"], weights=[80, 6, 8, 6])[0]
    lifecycle = ("resolved" if status == "resolved"
                 else rng.choices(["new", "open", "reopened"], weights=[20, 75, 5])[0])
    exception = None
    if status == "muted":
        exception = {"rule": rule["id"], "tenant": tenant, "key": name,
                     "reason": "Vendor integration, ticket SEC-1234", "owner": "alice@example.com",
                     "expires": (NOW + timedelta(days=rng.choice([5, 40, 120]))).date().isoformat()}
    message = (f"{name} could not be decided: group 'Automation' has no All Environments state"
               if status == "unknown" else f"{name}: {rule['title'].lower()}")
    return Finding(
        rule_id=rule["id"], title=rule["title"], severity=rule["severity"], status=status,
        tenant=tenant, resource=Resource("api_key", 1000 + i, name), message=message,
        remediation=rule["remediation"].format(name=name),
        evidence=_evidence(rule["id"], rng, name), compliance=rule["compliance"],
        lifecycle=lifecycle, first_seen=NOW - timedelta(days=rng.randint(0, 200)),
        exception=exception,
    )


def _inventory(tenant: str, keys: list[Finding]) -> Inventory:
    return Inventory(
        tenant=tenant, collected_at=NOW,
        environments=tuple(Environment(name=e, id=i) for i, e in enumerate(ENVS)),
        permission_groups=(PermissionGroup(1, "Admins", True), PermissionGroup(3, "SOC", False)),
        soc_roles=(SocRole(1, "Administrator"), SocRole(2, "Tier 1")),
        api_keys=tuple(ApiKey(id=f.resource.id or 0, name=f.resource.name, is_system=False,
                              group_ids=(3,), role_ids=(2,), environments=("EMEA",),
                              created_at=NOW - timedelta(days=30)) for f in keys[:50]),
    )


def build_result(n: int = 60, *, tenants: int = 3, failed_tenant: bool = True,
                 hostile: bool = False, seed: int = 7, run_id: str = "20261126T020000Z",
                 started_at: datetime = NOW) -> RunResult:
    rng = random.Random(seed)
    names = [f"acme-{i:03d}" for i in range(tenants)]
    findings: list[Finding] = []
    key_rules = [r for r in RULES if r["id"] != "SOAR-AUDIT-001"]
    hostile_names = list(HOSTILE) if hostile else []
    for i in range(n):
        name = hostile_names.pop(0) if hostile_names else None
        findings.append(_finding(i, rng, rng.choice(names), rng.choice(key_rules), name))
    if hostile:
        findings[0].status, findings[0].lifecycle = "fail", "new"
    tenant_results = [TenantResult(t, "ok", None, {"api_keys": 40, "environments": 6,
                                                   "permission_groups": 2, "soc_roles": 2})
                      for t in names]
    if failed_tenant:
        down = "globex-eu" if not hostile else "<b>globex</b>"
        error = "GET /api/external/v1/settings/GetApiKeys: HTTP 503 after 4 attempts"
        tenant_results.append(TenantResult(down, "error", error, {}))
        rule = RULE_BY_ID["SOAR-AUDIT-001"]
        findings.append(Finding(
            rule_id=rule["id"], title=rule["title"], severity="high", status="fail", tenant=down,
            resource=Resource("tenant", None, down), message=f"{down} could not be collected",
            remediation=rule["remediation"], compliance=rule["compliance"], lifecycle="new",
            first_seen=started_at))
    checks = {r["id"]: tenants * 40 for r in key_rules}
    checks["SOAR-AUDIT-001"] = len(tenant_results)
    by_tenant: dict[str, list[Finding]] = {}
    for f in findings:
        by_tenant.setdefault(f.tenant, []).append(f)
    exceptions = ExceptionStatus(
        expired=[{"rule": "SOAR-AGE-001", "tenant": "acme-*", "key": HOSTILE[0] if hostile else
                  "legacy-*", "reason": "Migration", "owner": "bob@example.com",
                  "expires": "2026-10-01"}],
        unused=[{"rule": "SOAR-PG-001", "tenant": "*", "key": "id:999", "reason": "old waiver",
                 "owner": HOSTILE[3] if hostile else "carol@example.com", "expires": "2027-01-01"}],
    )
    return RunResult(
        run_id=run_id, started_at=started_at, finished_at=started_at + timedelta(seconds=42),
        tool_version="0.1.0", tenants=tenant_results, findings=findings,
        inventories={t: _inventory(t, by_tenant.get(t, [])) for t in names},
        exceptions=exceptions,
        drift=[DriftNote("GetApiKeys", "permissionGroupIds",
                         HOSTILE[1] if hostile else "expected a list, got a string")],
        notes=["Slack delivery failed: HTTP 500 (will retry next run)"], checks=checks,
    )


def trend(runs: int, *, last: datetime = NOW) -> list[RunPoint]:
    """`runs` stored runs before `last`, one a day, the failing count slowly going down."""
    points = []
    for i in range(runs):
        day = last - timedelta(days=runs - i)
        by_sev = {"critical": max(0, 4 - i // 3), "high": 12 - i % 5,
                  "medium": max(5, 20 - i // 2), "low": 9, "info": 3}
        points.append(RunPoint(run_id=day.strftime("%Y%m%dT%H%M%SZ"), started_at=day,
                               status="incomplete" if i == 2 else "complete",
                               failing=sum(by_sev.values()), by_severity=by_sev, new=2,
                               resolved=1))
    return points


# -- SOAR-MIG-001 (legacy API keys) ------------------------------------------------------------
SHUTDOWN = "2027-03-31"
MIG_RULE: dict[str, Any] = {
    "id": "SOAR-MIG-001", "severity": "medium", "title": "Legacy API key",
    "description": "The key stops working when Google retires the legacy SOAR API and AppKey.",
    "remediation": "Create the replacement identity and mapping, switch the integration to "
                   "OAuth, then delete the key at Settings > Advanced > API keys > {name}.",
    "compliance": {NIST: ["IA-5", "AC-2"], ISO: ["A.5.17"]},
}


def mig_finding(key_id: int, name: str, *, tenant: str = "acme-000", days_left: int = 125,
                shutdown: str = SHUTDOWN, status: str = "fail", lifecycle: str = "open",
                severity: str | None = None, snapshot: bool = False,
                environments: list[str] | None = None, roles: list[str] | None = None,
                iam_roles: Any = None, groups: list[str] | None = None,
                project: str = "acme-secops", extra: dict[str, Any] | None = None) -> Finding:
    """A SOAR-MIG-001 finding with the evidence contract of rules.md."""
    slug = f"soar-key-{key_id}"
    envs = ["*"] if snapshot else (environments or ["EMEA"])
    replacement: dict[str, Any] = {
        "identity": f"serviceAccount:{slug}@{project}.iam.gserviceaccount.com",
        "mapping": {"display_name": f"{name} (replaces API key {key_id})",
                    "soc_roles": roles or ["Tier 1"], "environments": envs,
                    "snapshot": snapshot},
        "iam_roles": iam_roles if iam_roles is not None
        else [f"projects/{project}/roles/SOAR_Custom_Automation"],
        "permission_groups": groups or ["Automation"],
        **(extra or {}),
    }
    sev = severity or ("high" if days_left <= 30 else "medium")
    exception = None
    if status == "muted":
        exception = {"rule": "SOAR-MIG-001", "tenant": tenant, "key": name, "reason": "vendor",
                     "owner": "dana@example.com", "expires": "2027-01-15"}
    return Finding(
        rule_id="SOAR-MIG-001", title=MIG_RULE["title"], severity=sev,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        tenant=tenant, resource=Resource("api_key", key_id, name),
        message=f"{name} stops working on {shutdown} ({days_left} days left)",
        remediation=MIG_RULE["remediation"].format(name=name),
        evidence={"shutdown": shutdown, "days_left": days_left, "replacement": replacement},
        compliance=MIG_RULE["compliance"], lifecycle=lifecycle,  # type: ignore[arg-type]
        first_seen=NOW - timedelta(days=3), exception=exception)


def with_legacy_keys(result: RunResult, findings: list[Finding]) -> RunResult:
    """``result`` with these SOAR-MIG-001 findings added (and the rule counted as evaluated)."""
    result.findings.extend(findings)
    result.checks["SOAR-MIG-001"] = max(len(findings), 1)
    return result
