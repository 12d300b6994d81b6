"""The Prometheus metrics of the scheduler (served on /metrics): the build, the last audit, the
audits by outcome, updated from the health snapshot."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from auditor.schedule.heartbeat import parse_time


class Metrics:
    """Prometheus gauges of the last audit, in a registry of their own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge

        self.registry = CollectorRegistry()
        ns = "soar_auditor"
        from prometheus_client import Info

        from auditor import __version__

        self.build = Info(f"{ns}_build", "The auditor's version (value 1).",
                          registry=self.registry)
        self.build.info({"version": __version__,
                         "python": ".".join(map(str, sys.version_info[:3]))})
        self.last_success = Gauge(f"{ns}_last_success_timestamp_seconds",
                                  "Finish time of the last complete audit (every tenant "
                                  "collected in full).", registry=self.registry)
        self.last_complete = Gauge(f"{ns}_last_audit_complete",
                                   "1 when the last finished audit was complete (what /readyz "
                                   "answers), else 0.", registry=self.registry)
        self.last_start = Gauge(f"{ns}_last_audit_start_timestamp_seconds",
                                "Start time of the last audit.", registry=self.registry)
        self.duration = Gauge(f"{ns}_last_audit_duration_seconds",
                              "Duration of the last audit.", registry=self.registry)
        self.running = Gauge(f"{ns}_audit_running", "1 while an audit runs.",
                             registry=self.registry)
        self.next_run = Gauge(f"{ns}_next_run_timestamp_seconds", "Next scheduled audit.",
                              registry=self.registry)
        self.findings = Gauge(f"{ns}_findings", "Failing findings of the last audit by severity.",
                              ["severity"], registry=self.registry)
        self.unknown = Gauge(f"{ns}_unknown_findings",
                             "Checks the last audit could not decide.", registry=self.registry)
        self.collection_errors = Gauge(f"{ns}_collection_errors",
                                       "Tenants the last audit could not collect in full.",
                                       registry=self.registry)
        self.audits = Counter(f"{ns}_audits", "Audits by outcome.", ["status"],
                              registry=self.registry)
        self._counted: dict[str, int] = {}

    def update(self, snap: Mapping[str, Any]) -> None:
        for gauge, key in ((self.last_success, "last_success"), (self.last_start, "last_start"),
                           (self.next_run, "next_run")):
            moment = parse_time(snap.get(key))
            gauge.set(moment.timestamp() if moment else 0)
        self.duration.set(snap.get("last_duration_seconds") or 0)
        self.running.set(1 if snap.get("state") == "running" else 0)
        self.last_complete.set(1 if snap.get("last_status") == "complete" else 0)
        for severity, count in (snap.get("findings_by_severity") or {}).items():
            self.findings.labels(severity=severity).set(count)
        self.unknown.set(snap.get("unknown_findings") or 0)
        self.collection_errors.set(snap.get("collection_errors") or 0)
        for status, total in (snap.get("audits") or {}).items():
            delta = int(total) - self._counted.get(status, 0)
            if delta > 0:
                self.audits.labels(status=status).inc(delta)
                self._counted[status] = int(total)


__all__ = ["Metrics"]
