"""Helpers of the scheduler tests: the daemon as a real subprocess (`python -m auditor schedule`)
auditing the simulator over loopback HTTP, and the state store to count what it did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from auditor.simulator.server import SimulatorServer
from auditor.state import RunSummary, open_store
from tests.conftest import faketime_child_env


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def write_config(path: Path, srv: SimulatorServer, state: str, **schedule: Any) -> Path:
    data = {
        "tenants": [{"name": srv.scenario.tenant, "url": srv.url, "api_key": srv.app_key,
                     "timeout_seconds": 30}],
        "state": state,
        "reports": {"dir": str(path.parent / "reports"), "formats": ["json"]},
        "schedule": {"cron": "0 2 * * *", "timezone": "UTC", "misfire_grace_seconds": 30,
                     "shutdown_grace_seconds": 30, **schedule},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


class Daemon:
    """One `soar-auditor schedule` process; its log goes to a file (never a full pipe)."""

    def __init__(self, workdir: Path, config: Path, *args: str, name: str = "daemon") -> None:
        self.heartbeat_file = workdir / f"{name}-heartbeat.json"
        self.log_file = workdir / f"{name}.log"
        env = {**os.environ, "SOAR_AUDITOR_HEARTBEAT_INTERVAL": "0.2",
               "SOAR_AUDITOR_HEARTBEAT_FILE": str(self.heartbeat_file)}
        env.pop("JOB_COMPLETION_INDEX", None)
        self._log = self.log_file.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "auditor", "schedule", "--config", str(config), *args],
            cwd=workdir, env=faketime_child_env(env), stdout=self._log, stderr=subprocess.STDOUT,
        )

    def heartbeat(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.heartbeat_file.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return data

    def wait_heartbeat(self, predicate: Callable[[dict[str, Any]], Any], timeout: float,
                       what: str) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"the daemon exited ({self.proc.returncode}):\n{self.log}")
            beat = self.heartbeat()
            return beat if beat and predicate(beat) else None

        result: dict[str, Any] = wait_for(probe, timeout, what)
        return result

    @property
    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_file.read_text(encoding="utf-8")

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def stored_runs(url: str) -> list[RunSummary]:
    """Every run in the store, oldest first."""
    store = open_store(url)
    try:
        return sorted(store.history(limit=1000), key=lambda r: r.started_at)
    finally:
        store.close()
