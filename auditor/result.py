"""The value one audit produces (RunResult), handed from the pipeline to state, report, notify."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from auditor.clock import iso as iso
from auditor.engine.exceptions import ExceptionStatus as ExceptionStatus
from auditor.engine.findings import SEVERITIES, SEVERITY_RANK, Finding
from auditor.soar.models import DriftNote, Inventory

RunStatus = Literal["complete", "incomplete", "failed"]

# -- the finding orders (one home; every stage and output sorts with these) ----------------------
OrderName = Literal["document", "report", "alert"]
_STATUS_RANK = {"fail": 0, "unknown": 1, "muted": 2, "resolved": 3}


def _document_key(f: Finding) -> tuple[Any, ...]:
    return (_STATUS_RANK.get(f.status, 4), -SEVERITY_RANK[f.severity], f.tenant, f.rule_id,
            f.resource.name)


def _report_key(f: Finding) -> tuple[Any, ...]:
    return (-SEVERITY_RANK.get(f.severity, 0), f.rule_id, f.tenant, f.resource.name.lower())


def _alert_key(f: Finding) -> tuple[Any, ...]:
    return (-SEVERITY_RANK[f.severity], f.tenant, f.rule_id, f.resource.name)


_ORDERS: dict[str, Callable[[Finding], tuple[Any, ...]]] = {
    "document": _document_key, "report": _report_key, "alert": _alert_key}


def finding_order(name: OrderName = "document") -> Callable[[Finding], tuple[Any, ...]]:
    """The sort key of a finding order:

    - ``document``: findings.json and the stored run (fail, unknown, muted, resolved; then the
      most severe first; then tenant, rule id, resource name);
    - ``report``: the tables of the human outputs (most severe first; then rule id, tenant,
      resource name regardless of case);
    - ``alert``: the Slack digest (most severe first; then tenant, rule id, resource name).
    """
    return _ORDERS[name]


def ordered(findings: Iterable[Finding], name: OrderName = "document") -> list[Finding]:
    """A new list of ``findings`` in the order ``name`` (stable: ties keep their order)."""
    return sorted(findings, key=_ORDERS[name])


def summarize(findings: Iterable[Finding]) -> dict[str, Any]:
    """The counts of findings.json's ``summary`` (and of the stored run)."""
    by_status: Counter[str] = Counter()
    by_sev: Counter[str] = Counter()
    new = 0
    for f in findings:
        by_status[f.status] += 1
        if f.status == "fail":
            by_sev[f.severity] += 1
        if f.lifecycle == "new" and f.status != "resolved":
            new += 1
    return {
        "failing": by_status.get("fail", 0),
        "unknown": by_status.get("unknown", 0),
        "muted": by_status.get("muted", 0),
        "new": new,
        "resolved": by_status.get("resolved", 0),
        "by_severity": {s: by_sev.get(s, 0) for s in SEVERITIES},
    }


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
    # The summary, counted once by :meth:`counted`, with the findings list it counted (a copy
    # with other findings, e.g. a report view, counts its own); None: counted when asked.
    totals: tuple[list[Finding], dict[str, Any]] | None = field(default=None, repr=False,
                                                                compare=False)

    @property
    def status(self) -> RunStatus:
        if not self.tenants:
            return "failed"
        errors = sum(1 for t in self.tenants if t.status == "error")
        if errors == 0:
            return "complete"
        return "failed" if errors == len(self.tenants) else "incomplete"

    def summary(self) -> dict[str, Any]:
        if self.totals is not None and self.totals[0] is self.findings:
            counts = self.totals[1]
            return {**counts, "by_severity": dict(counts["by_severity"])}
        return summarize(self.findings)

    def counted(self) -> RunResult:
        """A new RunResult: these findings in the document order, the summary counted once. What
        the audit writes and what it stores is this value."""
        findings = ordered(self.findings)
        return replace(self, findings=findings, totals=(findings, summarize(findings)))

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
