"""The value one audit produces (RunResult), handed from the pipeline to state, report, notify."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from auditor.clock import iso as iso
from auditor.engine.exceptions import ExceptionStatus as ExceptionStatus
from auditor.engine.findings import SEVERITIES, Finding
from auditor.soar.models import DriftNote, Inventory

RunStatus = Literal["complete", "incomplete", "failed"]


@dataclass(slots=True)
class TenantResult:
    name: str
    status: Literal["ok", "error"]
    error: str | None
    counts: dict[str, int]
    auth: str = "appkey"
    # Ids of the rules that read only surfaces this tenant was not read over (e.g. the Group
    # Mapping rules on a legacy-only tenant): no finding, no check counted.
    not_applicable: list[str] = field(default_factory=list)
    # The surfaces the tenant was read over ("legacy", "chronicle", "iam"); of an error, the
    # configured ones.
    surfaces: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class RunResult:
    run_id: str
    started_at: datetime
    finished_at: datetime | None
    tool_version: str
    tenants: list[TenantResult]
    findings: list[Finding]
    inventories: dict[str, Inventory] = field(default_factory=dict)
    exceptions: ExceptionStatus = field(default_factory=ExceptionStatus)
    drift: list[DriftNote] = field(default_factory=list)
    # Problems that do not change the verdict but must be shown (e.g. Slack delivery failed).
    notes: list[str] = field(default_factory=list)
    # rule id -> number of resources it was evaluated on (for pass/fail counts per control).
    checks: dict[str, int] = field(default_factory=dict)

    @property
    def status(self) -> RunStatus:
        if not self.tenants:
            return "failed"
        errors = sum(1 for t in self.tenants if t.status == "error")
        if errors == 0:
            return "complete"
        return "failed" if errors == len(self.tenants) else "incomplete"

    def summary(self) -> dict[str, Any]:
        by_status = Counter(f.status for f in self.findings)
        failing = [f for f in self.findings if f.status == "fail"]
        by_sev = Counter(f.severity for f in failing)
        return {
            "failing": by_status.get("fail", 0),
            "unknown": by_status.get("unknown", 0),
            "muted": by_status.get("muted", 0),
            "new": sum(1 for f in self.findings if f.lifecycle == "new" and f.status != "resolved"),
            "resolved": by_status.get("resolved", 0),
            "by_severity": {s: by_sev.get(s, 0) for s in SEVERITIES},
        }

    def to_dict(self) -> dict[str, Any]:
        """findings.json, schema_version 1 (interfaces.md); extra fields only ever added."""
        return {
            "schema_version": 1,
            "run": {
                "id": self.run_id,
                "started_at": iso(self.started_at),
                "finished_at": iso(self.finished_at),
                "status": self.status,
                "tool_version": self.tool_version,
            },
            "tenants": [t.to_dict() for t in self.tenants],
            "summary": self.summary(),
            "findings": [f.to_dict() for f in self.findings],
            "exceptions": {"broad": self.exceptions.broad, "expired": self.exceptions.expired,
                           "unused": self.exceptions.unused},
            "drift": [
                {"endpoint": d.endpoint, "field": d.field, "detail": d.detail} for d in self.drift
            ],
            "notes": list(self.notes),
            "checks": dict(self.checks),
        }


@dataclass(frozen=True, slots=True)
class RunPoint:
    """One stored run, as the trend chart and `history` show it."""

    run_id: str
    started_at: datetime
    status: str
    failing: int
    by_severity: dict[str, int]
    new: int = 0
    resolved: int = 0
    # Legacy API keys left (SOAR-MIG-001 findings failing, unknown or muted); None when the run
    # did not evaluate that rule (or predates it).
    legacy_keys: int | None = None
