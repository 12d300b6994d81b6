"""The scheduler's health endpoints on ``schedule.health.host:port`` (loopback by default):
``/healthz``, ``/readyz`` (JSON bodies) and Prometheus ``/metrics``."""

from __future__ import annotations

import json
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from auditor.schedule.checks import DEFAULT_MAX_AUDIT_SECONDS, check, readiness_problems
from auditor.schedule.metrics import Metrics
from auditor.schedule.record import Health

log = logging.getLogger("auditor.health")


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


__all__ = ["HealthServer"]
