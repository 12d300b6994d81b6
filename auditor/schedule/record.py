"""The daemon's health record: what the scheduler is doing and how its audits went.

The daemon keeps one :class:`Health`; its :meth:`Health.snapshot` is the heartbeat document
(:mod:`auditor.schedule.heartbeat`) and what /healthz, /readyz and /metrics serve.

Success means a complete audit (every tenant collected in full), everywhere: ``last_success``,
``soar_auditor_last_success_timestamp_seconds``, /readyz, and the scheduler's catch-up.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auditor.clock import SYSTEM_CLOCK, Clock, iso
from auditor.engine.findings import SEVERITIES
from auditor.result import RunResult


@dataclass(slots=True)
class Health:
    """What the daemon is doing and how its audits went; every method is thread-safe.

    ``clock`` dates the snapshot (``updated_at``) and, when not given, ``started_at``.
    """

    schedule: dict[str, Any]
    misfire_grace_seconds: int
    heartbeat_interval_seconds: float
    pid: int = field(default_factory=os.getpid)
    started_at: datetime | None = None  # None: the clock's time at creation
    state: str = "idle"  # idle | running | stopping | stopped
    last_start: datetime | None = None
    last_finish: datetime | None = None
    last_success: datetime | None = None  # when the last *complete* audit finished
    last_status: str | None = None  # complete | incomplete | failed | error | interrupted
    last_duration_seconds: float | None = None
    last_run_id: str | None = None
    last_error: str | None = None
    last_slot: datetime | None = None  # the latest slot audited (here or by another replica)
    next_run: datetime | None = None
    findings_by_severity: dict[str, int] = field(default_factory=dict)
    unknown_findings: int = 0
    collection_errors: int = 0
    tenants_failed: list[str] = field(default_factory=list)
    audits: dict[str, int] = field(default_factory=dict)
    clock: Clock = field(default=SYSTEM_CLOCK, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.started_at is None:
            self.started_at = self.clock.now()

    def update(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self, key, value)

    def audit_started(self, now: datetime, run_id: str | None = None) -> None:
        self.update(state="running", last_start=now, last_run_id=run_id)

    def audit_finished(self, result: RunResult, slot: datetime | None, now: datetime) -> None:
        summary = result.summary()
        failed = [t.name for t in result.tenants if t.status == "error"]
        with self._lock:
            self.state = "idle"
            self.last_finish = now
            self.last_status = result.status
            self.last_run_id = result.run_id
            self.last_error = None
            if self.last_start is not None:
                self.last_duration_seconds = round((now - self.last_start).total_seconds(), 3)
            self.findings_by_severity = dict(summary["by_severity"])
            self.unknown_findings = int(summary["unknown"])
            self.collection_errors = len(failed)
            self.tenants_failed = failed
            # Success means one thing everywhere (heartbeat, /metrics, /readyz, the store the
            # scheduler's catch-up reads): a complete audit, every tenant collected in full.
            if result.status == "complete":
                self.last_success = now
            # The slot is audited (not overdue, no catch-up) by an audit that collected at least
            # one tenant: a tenant it could not collect is a finding, and /readyz says so.
            if result.status != "failed" and slot is not None:
                self.last_slot = max(slot, self.last_slot or slot)
            self.audits[result.status] = self.audits.get(result.status, 0) + 1

    def audit_failed(self, status: str, error: str, now: datetime) -> None:
        with self._lock:
            if self.state in ("running", "stopping") and self.last_start is not None:
                self.last_duration_seconds = round((now - self.last_start).total_seconds(), 3)
            self.state = "idle" if status == "error" else self.state
            self.last_finish = now
            self.last_status = status
            self.last_error = error
            self.audits[status] = self.audits.get(status, 0) + 1

    def slot_done_elsewhere(self, slot: datetime) -> None:
        with self._lock:
            self.last_slot = max(slot, self.last_slot or slot)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "pid": self.pid,
                "state": self.state,
                "updated_at": iso(self.clock.now()),
                "started_at": iso(self.started_at),
                "last_start": iso(self.last_start),
                "last_finish": iso(self.last_finish),
                "last_success": iso(self.last_success),
                "last_status": self.last_status,
                "last_duration_seconds": self.last_duration_seconds,
                "last_run_id": self.last_run_id,
                "last_error": self.last_error,
                "last_slot": iso(self.last_slot),
                "next_run": iso(self.next_run),
                "findings_by_severity": {
                    s: self.findings_by_severity.get(s, 0) for s in SEVERITIES
                },
                "unknown_findings": self.unknown_findings,
                "collection_errors": self.collection_errors,
                "tenants_failed": list(self.tenants_failed),
                "audits": dict(self.audits),
                "schedule": dict(self.schedule),
                "misfire_grace_seconds": self.misfire_grace_seconds,
                "heartbeat_interval_seconds": self.heartbeat_interval_seconds,
            }


__all__ = ["Health"]
