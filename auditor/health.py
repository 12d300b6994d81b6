"""The scheduler's health: a heartbeat file, `/healthz`, `/readyz`, Prometheus `/metrics`, and
the checks.

The daemon keeps one :class:`Health` record, writes it atomically as JSON to the heartbeat file
every few seconds and after every change, and (when ``schedule.health.port`` is set) serves it on
loopback. :func:`check` decides from that record alone whether the scheduler is healthy (alive,
not stuck, audits on time), :func:`readiness_problems` whether the last audit was complete, so
that ``soar-auditor healthcheck [--readiness]`` needs no secret and no connection to the store.

Success means a complete audit (every tenant collected in full), everywhere: ``last_success``,
``soar_auditor_last_success_timestamp_seconds``, /readyz, and the scheduler's catch-up.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from auditor.clock import SYSTEM_CLOCK, Clock
from auditor.config import Config, resolve_path
from auditor.crontab import CrontabTrigger, interval_trigger, previous_fire_time
from auditor.engine.findings import SEVERITIES
from auditor.result import RunResult, iso

log = logging.getLogger("auditor.health")

HEARTBEAT_ENV = "SOAR_AUDITOR_HEARTBEAT_FILE"
DEFAULT_MAX_AUDIT_SECONDS = 6 * 3600


def heartbeat_path(
    config: Config | None, explicit: str | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """Where the heartbeat lives: the option, else schedule.health.heartbeat_file, else
    $SOAR_AUDITOR_HEARTBEAT_FILE, else ``<reports.dir>/heartbeat.json``."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if config is not None and config.schedule.health.heartbeat_file:
        return resolve_path(config, config.schedule.health.heartbeat_file)
    if env.get(HEARTBEAT_ENV):
        return Path(env[HEARTBEAT_ENV])
    if config is None:
        raise ValueError(f"give --heartbeat-file, --config, or set {HEARTBEAT_ENV}")
    return resolve_path(config, config.reports.dir) / "heartbeat.json"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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


def write_heartbeat(path: Path, data: Mapping[str, Any]) -> None:
    """Atomically replace the heartbeat file (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_heartbeat(path: Path) -> dict[str, Any]:
    """The heartbeat as a dict; ValueError with a one-line reason when it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"no heartbeat at {path} (is `soar-auditor schedule` running?)"
        ) from None
    except OSError as exc:
        raise ValueError(f"cannot read the heartbeat {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"the heartbeat {path} is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ValueError(f"the heartbeat {path} is not a JSON object")
    return data


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
        updated = _parse_time(data.get("updated_at"))
        last_start = _parse_time(data.get("last_start"))
        last_success = _parse_time(data.get("last_success"))
        last_slot = _parse_time(data.get("last_slot"))
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


# ------------------------------------------------------------------------------------------------
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
            moment = _parse_time(snap.get(key))
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


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class HealthServer:
    """``/healthz`` (200 healthy, 503 not: the scheduler is alive, not stuck, audits on time),
    ``/readyz`` (200 when the last audit was complete and the scheduler alive, else 503; JSON
    bodies) and ``/metrics`` on ``host:port``."""

    def __init__(self, health: Health, metrics: Metrics, host: str, port: int,
                 max_audit_seconds: float = DEFAULT_MAX_AUDIT_SECONDS) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    metrics.update(health.snapshot())
                    self._send(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
                elif path == "/healthz":
                    snap = health.snapshot()
                    problems = check(snap, max_audit_seconds=outer.max_audit_seconds,
                                     clock=health.clock)
                    body = {"status": "unhealthy" if problems else "ok", "problems": problems,
                            **snap}
                    self._send(503 if problems else 200, "application/json",
                               json.dumps(body).encode())
                elif path == "/readyz":
                    snap = health.snapshot()
                    problems = check(snap, max_audit_seconds=outer.max_audit_seconds,
                                     clock=health.clock, overdue=False)
                    problems += readiness_problems(snap)
                    body = {"status": "not ready" if problems else "ready",
                            "problems": problems, **snap}
                    self._send(503 if problems else 200, "application/json",
                               json.dumps(body).encode())
                else:
                    self._send(404, "text/plain; charset=utf-8", b"not found\n")

            def _send(self, code: int, ctype: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("health endpoint: " + format, *args)

        self.max_audit_seconds = max_audit_seconds
        server_class = _Server6 if ":" in host else ThreadingHTTPServer
        self.server = server_class((host.strip("[]"), port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="health-http",
                                       daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
