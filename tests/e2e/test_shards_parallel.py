"""`run --shard 0/2` and `run --shard 1/2` as two processes at once on one state store (what the
pods of an indexed Kubernetes Job do): they audit in parallel, and every alert goes out once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auditor.clock import SYSTEM_CLOCK, Clock
from auditor.state import open_store
from tests.e2e.helpers import tenant_entry, write_config
from tests.notify.fakeslack import FakeSlack

LATENCY_MS = 300  # per SOAR API request: a shard's collection takes about 2 s


@pytest.fixture
def simulator_clock() -> Clock:
    """The CLI audits in a subprocess, on the system clock: so do the simulators it audits."""
    return SYSTEM_CLOCK


def _start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "SLACK_"))}
    full_env.update(env)
    return subprocess.Popen([sys.executable, "-m", "auditor", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env)


def _span(srv: Any) -> tuple[float, float]:
    """When the shard auditing this simulator's tenant was collecting (monotonic clock)."""
    spans = srv.request_spans
    assert spans, "the tenant was not collected"
    return min(s.started for s in spans), max(s.finished for s in spans)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def test_two_shards_audit_in_parallel_and_alert_once(
    tmp_path: Path, start_simulator: Any, state: str
) -> None:
    # Tenants sorted by name: alpha is shard 0 of 2, beta shard 1; each on its own simulator.
    sims = [start_simulator("demo"), start_simulator("demo")]
    for srv in sims:
        srv.set_latency_ms(LATENCY_MS)
    with FakeSlack() as slack:
        cfg = write_config(tmp_path / "auditor.yaml", {
            "tenants": [tenant_entry(sims[1], "beta", "K1"), tenant_entry(sims[0], "alpha", "K0")],
            "state": state,
            "reports": {"dir": str(tmp_path / "reports"), "formats": ["json"]},
            "slack": {"webhook_url": "${SLACK_HOOK}", "notify": "all"},
        })
        env = {"K0": sims[0].app_key, "K1": sims[1].app_key, "SLACK_HOOK": slack.webhook_url()}
        procs = [_start("run", "--config", str(cfg), "--shard", f"{i}/2", env=env)
                 for i in range(2)]
        outputs = [p.communicate(timeout=120) for p in procs]
        for proc, (_out, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
        hooks = slack.accepted("webhook")

    # The two collections overlapped in time: neither shard waited for the other's lock.
    (start0, end0), (start1, end1) = _span(sims[0]), _span(sims[1])
    overlap = min(end0, end1) - max(start0, start1)
    shortest = min(end0 - start0, end1 - start1)
    assert overlap > 0.5 * shortest, (start0, end0, start1, end1)
    print(f"collections: shard 0 {end0 - start0:.2f} s, shard 1 {end1 - start1:.2f} s, "
          f"overlap {overlap:.2f} s")

    with open_store(state) as store:
        runs = store.history(limit=10)
        assert [r.status for r in runs] == ["complete", "complete"]
        by_shard = {r.run_id.rpartition("-")[2]: r for r in runs}
        assert sorted(by_shard) == ["shard0of2", "shard1of2"]  # distinct run ids, one per shard
        assert [t.name for t in by_shard["shard0of2"].tenants] == ["alpha"]
        assert [t.name for t in by_shard["shard1of2"].tenants] == ["beta"]
        assert store.outbox_pending() == []
    # Each shard's alert was delivered exactly once, whichever shard delivered it.
    alerted = sorted(json.loads(h.body)["text"].rpartition("(run ")[2] for h in hooks)
    assert alerted == sorted(f"{r.run_id})" for r in runs)
