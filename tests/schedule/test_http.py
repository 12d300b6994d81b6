"""The health endpoints (auditor.schedule.http): /healthz, /readyz and /metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from health_builders import NOW, health_after_audit, result
from prometheus_client.parser import text_string_to_metric_families

from auditor.clock import FixedClock
from auditor.schedule.http import HealthServer
from auditor.schedule.metrics import Metrics


def test_health_endpoints_serve_healthz_readyz_and_metrics() -> None:
    clock = FixedClock(NOW)  # the endpoints judge the record by the health's clock
    health = health_after_audit(NOW - timedelta(seconds=60), None, clock=clock)
    health.update(schedule={"interval_seconds": 3600})
    server = HealthServer(health, Metrics(), "127.0.0.1", 0)
    server.start()
    try:
        ok = requests.get(f"{server.url}/healthz", timeout=5)
        assert ok.status_code == 200  # alive and on time...
        assert ok.json()["status"] == "ok"
        assert ok.json()["collection_errors"] == 1
        assert ok.json()["updated_at"] == "2026-11-26T09:00:00Z"
        ready = requests.get(f"{server.url}/readyz", timeout=5)
        assert ready.status_code == 503  # ...but the last audit was incomplete
        assert ready.json()["status"] == "not ready"
        assert "incomplete" in ready.json()["problems"][0]

        text = requests.get(f"{server.url}/metrics", timeout=5).text
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for fam in text_string_to_metric_families(text) for s in fam.samples}
        assert samples[("soar_auditor_findings", (("severity", "high"),))] == 2
        assert samples[("soar_auditor_findings", (("severity", "critical"),))] == 1
        assert samples[("soar_auditor_collection_errors", ())] == 1
        assert samples[("soar_auditor_last_audit_duration_seconds", ())] == 42
        # No complete audit yet: no success on record.
        assert samples[("soar_auditor_last_success_timestamp_seconds", ())] == 0
        assert samples[("soar_auditor_last_audit_complete", ())] == 0
        assert samples[("soar_auditor_audits_total", (("status", "incomplete"),))] == 1
        (build,) = [labels for (name, labels) in samples if name == "soar_auditor_build_info"]
        assert dict(build)["version"] == "0.1.0"

        start = NOW - timedelta(seconds=30)
        health.audit_started(start, "r2")
        health.audit_finished(result(start, complete=True), None, start + timedelta(seconds=5))
        assert requests.get(f"{server.url}/readyz", timeout=5).status_code == 200
        text = requests.get(f"{server.url}/metrics", timeout=5).text
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for fam in text_string_to_metric_families(text) for s in fam.samples}
        assert samples[("soar_auditor_last_success_timestamp_seconds", ())] == pytest.approx(
            (start + timedelta(seconds=5)).timestamp())
        assert samples[("soar_auditor_last_audit_complete", ())] == 1
        clock.advance(timedelta(days=400))
        later = requests.get(f"{server.url}/healthz", timeout=5).json()
        assert later["updated_at"] == "2027-12-31T09:00:00Z" and later["status"] == "ok"

        health.update(state="stopped")
        down = requests.get(f"{server.url}/healthz", timeout=5)
        assert down.status_code == 503
        assert down.json()["status"] == "unhealthy"
        assert requests.get(f"{server.url}/other", timeout=5).status_code == 404
    finally:
        server.stop()
