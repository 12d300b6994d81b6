"""A run killed with SIGKILL in the middle of writing leaves the store consistent."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from state_helpers import DAY, T0, by_key, finding, run

from auditor.state import Store

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def _wait_for(proc: subprocess.Popen[str], marker: str, timeout: float) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
            seen.append(line.strip())
            if line.strip() == marker:
                return
    proc.kill()
    raise AssertionError(
        f"child never printed {marker}: {seen}, stderr: {proc.stderr.read() if proc.stderr else ''}"
    )


def test_sigkill_while_recording(store_url: str, make_store: Callable[..., Store]) -> None:
    store = make_store()
    first = run(T0, {"acme": [finding("SOAR-PG-001", 1), finding("SOAR-AGE-001", 2)]})
    store.record_run(first)

    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]))
    child = subprocess.Popen(
        [sys.executable, str(HERE / "kill_worker.py"), store_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        _wait_for(child, "LOCKED", 30)
        _wait_for(child, "IN_TRANSACTION", 30)
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()

    after = make_store()
    started = time.monotonic()
    with after.audit_lock(timeout=10):  # the dead process's lock is gone
        assert time.monotonic() - started < 5
        rows = after.history()
        assert [(r.run_id, r.status) for r in rows] == [
            ((T0 + DAY).strftime("%Y%m%dT%H%M%SZ"), "interrupted"),
            (first.run_id, "complete"),
        ]
        assert rows[0].tenants == []  # nothing of the killed run was written
        assert after.tenant_history("acme").previous_audit_at == T0
        # The next run compares with the last run that finished, as if the killed one never was.
        nxt = run(T0 + 2 * DAY, {"acme": [finding("SOAR-PG-001", 1), finding("SOAR-ENV-003", 3)]})
        after.record_run(nxt)
    assert by_key(nxt) == {
        ("acme", "SOAR-PG-001", 1): ("fail", "open"),
        ("acme", "SOAR-ENV-003", 3): ("fail", "new"),
        ("acme", "SOAR-AGE-001", 2): ("resolved", "resolved"),
    }
    assert [p.status for p in after.runs()] == ["complete", "complete"]
