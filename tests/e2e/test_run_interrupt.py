"""SIGTERM or SIGINT during `soar-auditor run` (a CronJob's pod deleted, Ctrl-C): a real process
auditing a slow simulator is told to stop. It says so in one line, records its run "interrupted"
at once (not "running" until the next audit) and exits 143 (SIGTERM) or 130 (SIGINT)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from auditor.clock import SYSTEM_CLOCK, Clock
from auditor.state import open_store
from tests.conftest import faketime_child_env
from tests.e2e.helpers import tenant_entry, write_config


@pytest.fixture
def simulator_clock() -> Clock:
    """The CLI audits in a subprocess, on the system clock: so does the simulator."""
    return SYSTEM_CLOCK


def _wait_for(path: Path, pattern: str, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
        match = re.search(pattern, text)
        if match:
            return match.group(1)
        if proc.poll() is not None:
            raise AssertionError(f"the run exited ({proc.returncode}) early:\n{text}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {pattern!r}")


@pytest.mark.parametrize(("sig", "code", "log_format"), [
    (signal.SIGTERM, 143, "text"), (signal.SIGINT, 130, "text"), (signal.SIGTERM, 143, "json"),
])
def test_a_signal_during_an_audit_records_it_interrupted(
    tmp_path: Path, start_simulator: Any, sig: signal.Signals, code: int, log_format: str
) -> None:
    srv = start_simulator("demo")
    srv.set_latency_ms(1500)  # every answer takes 1.5 s: the audit is collecting for a while
    url = f"sqlite:///{tmp_path / 'state.db'}"
    cfg = write_config(tmp_path / "auditor.yaml", {
        "tenants": [tenant_entry(srv, "acme-prod", "K")],
        "state": url, "reports": {"dir": str(tmp_path / "reports"), "formats": ["json"]},
    })
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "SLACK_"))}
    err = tmp_path / "stderr.log"
    with err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "auditor", "--log-format", log_format, "run", "--config",
             str(cfg)], env=faketime_child_env({**env, "K": srv.app_key}),
            stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            run_id = _wait_for(err, r"audit (\d{8}T\d{6}Z): 1 tenant", proc, 60)
            time.sleep(0.5)  # inside the collection
            sent = time.monotonic()
            proc.send_signal(sig)
            assert proc.wait(timeout=30) == code
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
    assert took < 10, f"{took:.1f} s to stop"  # not after the slow tenant has answered
    lines = err.read_text(encoding="utf-8").splitlines()
    name = signal.Signals(sig).name
    expected = (f"run: interrupted by {name} while collecting the tenants; run {run_id} "
                "recorded as interrupted")
    if log_format == "json":
        records = [json.loads(line) for line in lines]  # every line JSON, this one too
        (record,) = [r for r in records if r.get("event") == "interrupted"]
        assert record["message"] == expected and record["exit_code"] == code
        assert record["run_id"] == run_id and record["signal"] == name
    else:
        assert lines[-1] == f"soar-auditor: {expected}"
        assert "Traceback" not in "\n".join(lines)
    store = open_store(url)
    try:
        (run,) = store.history(5)
    finally:
        store.close()
    assert (run.run_id, run.status) == (run_id, "interrupted")  # at once, not at the next audit
