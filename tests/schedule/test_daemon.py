"""`soar-auditor schedule` as users run it: a real process auditing the simulator over loopback
HTTP with the real pipeline and state store, driven by a fast injected trigger
(``--trigger-seconds``, slots aligned to a fixed origin) or by a real cron expression."""

from __future__ import annotations

import itertools
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from sched_helpers import Daemon, stored_runs, wait_for, write_config

from auditor.clock import SYSTEM_CLOCK, Clock
from auditor.config import load_config
from auditor.pipeline import run_audit
from auditor.simulator.server import SimulatorServer

StartDaemon = Callable[..., Daemon]


@pytest.fixture
def simulator_clock() -> Clock:
    """The daemon audits in a subprocess, on the system clock: so does the simulator."""
    return SYSTEM_CLOCK


def audits(beat: dict[str, object]) -> int:
    counts = beat.get("audits") or {}
    assert isinstance(counts, dict)
    return sum(int(v) for v in counts.values())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def events(log: str) -> list[str]:
    """The audit events of a daemon log, in order: start / end / skip."""
    out = []
    for line in log.splitlines():
        if re.search(r"audit starting", line):
            out.append("start")
        elif re.search(r"audit \d{8}T\d{6}Z (complete|incomplete|failed) in", line):
            out.append("end")
        elif "skipped: the previous audit is still running" in line:
            out.append("skip")
    return out


def test_audits_happen_on_schedule(simulator: SimulatorServer, tmp_path: Path,
                                   start_daemon: StartDaemon) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    port = free_port()
    config = write_config(tmp_path / "auditor.yaml", simulator, url,
                          health={"port": port, "host": "127.0.0.1"})
    daemon = start_daemon(config, "--trigger-seconds", "2")
    # The catch-up at start (empty store), then one audit per 2-second slot.
    beat = daemon.wait_heartbeat(lambda b: audits(b) >= 3 and b["state"] == "idle", 40,
                                 "three audits")
    assert beat["last_status"] == "complete"
    assert beat["findings_by_severity"]["high"] > 0  # the demo tenant breaks rules
    assert beat["collection_errors"] == 0
    assert beat["next_run"] is not None

    health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert health.status_code == 200, health.text
    metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'soar_auditor_audits_total{status="complete"}' in metrics
    assert re.search(r'soar_auditor_findings\{severity="high"\} [1-9]', metrics)

    assert daemon.terminate(signal.SIGINT) == 0
    runs = stored_runs(url)
    assert len(runs) >= 3 and {r.status for r in runs} == {"complete"}
    # Scheduled audits start in their slot's second (slots: every even second since 2000-01-01).
    scheduled = re.findall(r"scheduled audit starting \(slot (\S+)\)", daemon.log)
    assert len(scheduled) >= 2
    for slot in scheduled:
        moment = datetime.fromisoformat(slot.replace("Z", "+00:00"))
        assert moment.second % 2 == 0 and moment.microsecond == 0
        assert moment.strftime("%Y%m%dT%H%M%SZ") in {r.run_id for r in runs}
    assert len(set(scheduled)) == len(scheduled)
    # The next run time is logged at start and after every audit.
    assert daemon.log.count("next audit at") >= 1 + len(runs)
    assert daemon.heartbeat()["state"] == "stopped"


def test_a_long_audit_is_not_overlapped(simulator: SimulatorServer, tmp_path: Path,
                                        start_daemon: StartDaemon) -> None:
    simulator.set_latency_ms(400)  # an audit now takes a few seconds; the trigger fires every 1
    url = f"sqlite:///{tmp_path}/state.db"
    config = write_config(tmp_path / "auditor.yaml", simulator, url)
    daemon = start_daemon(config, "--trigger-seconds", "1")
    daemon.wait_heartbeat(lambda b: audits(b) >= 2, 60, "two audits")
    assert daemon.terminate() == 0
    seen = events(daemon.log)
    assert "skip" in seen  # slots came while an audit ran ...
    starts_ends = [e for e in seen if e != "skip"]
    # ... and never did a second audit start before the first ended.
    assert starts_ends[: 2 * (len(starts_ends) // 2)] == ["start", "end"] * (len(starts_ends) // 2)
    runs = stored_runs(url)
    assert len(runs) == starts_ends.count("start")
    for before, after in itertools.pairwise(runs):
        assert before.finished_at is not None
        assert after.started_at >= before.finished_at - timedelta(seconds=1)  # run ids: 1 s


def test_sigterm_during_an_audit_lets_it_finish(simulator: SimulatorServer, tmp_path: Path,
                                                start_daemon: StartDaemon) -> None:
    simulator.set_latency_ms(300)
    url = f"sqlite:///{tmp_path}/state.db"
    config = write_config(tmp_path / "auditor.yaml", simulator, url, shutdown_grace_seconds=60)
    daemon = start_daemon(config)  # empty store: the catch-up audit starts at once
    daemon.wait_heartbeat(lambda b: b["state"] == "running", 30, "the audit to start")
    signalled = SYSTEM_CLOCK.now()
    started = time.monotonic()
    assert daemon.terminate() == 0
    assert time.monotonic() - started < 60
    runs = stored_runs(url)
    assert [r.status for r in runs] == ["complete"]  # finished, and no new audit after it
    assert runs[0].finished_at is not None and runs[0].finished_at >= signalled
    beat = daemon.heartbeat()
    assert beat["state"] == "stopped" and beat["last_status"] == "complete"
    assert "waiting up to 60 s for the audit in progress" in daemon.log


def test_sigterm_past_the_grace_period_abandons_the_audit(
    simulator: SimulatorServer, tmp_path: Path, start_daemon: StartDaemon
) -> None:
    simulator.set_latency_ms(3000)  # an audit takes well over the 1 s grace
    url = f"sqlite:///{tmp_path}/state.db"
    config = write_config(tmp_path / "auditor.yaml", simulator, url, shutdown_grace_seconds=1)
    daemon = start_daemon(config)
    beat = daemon.wait_heartbeat(lambda b: b["state"] == "running", 30, "the audit to start")
    started = time.monotonic()
    assert daemon.terminate() == 0
    assert time.monotonic() - started < 2.9  # did not wait for the audit
    beat = daemon.heartbeat()
    assert beat["state"] == "stopped" and beat["last_status"] == "interrupted"
    assert "abandoned" in daemon.log
    interrupted_id = beat["last_run_id"]

    # The store is consistent: the next audit works, and the abandoned one is on record.
    simulator.set_latency_ms(0)
    result = run_audit(load_config(config))
    assert result.status == "complete"
    runs = {r.run_id: r.status for r in stored_runs(url)}
    assert runs[result.run_id] == "complete"
    assert runs.get(interrupted_id) == "interrupted", runs


def test_catch_up_after_downtime_runs_exactly_one_audit(
    simulator: SimulatorServer, tmp_path: Path, start_daemon: StartDaemon
) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    now = SYSTEM_CLOCK.now()
    cron = f"{now.minute} {(now.hour + 12) % 24} * * *"  # daily, far from now
    config = write_config(tmp_path / "auditor.yaml", simulator, url, cron=cron)
    # The last audit was three days ago: three daily slots were missed since.
    old = run_audit(load_config(config), now=now - timedelta(days=3))
    assert old.status == "complete"

    daemon = start_daemon(config)
    daemon.wait_heartbeat(lambda b: audits(b) >= 1 and b["state"] == "idle", 30, "catch-up")
    time.sleep(1.0)  # room for a (wrong) second audit
    assert daemon.terminate() == 0
    assert "catching up now" in daemon.log
    assert len(stored_runs(url)) == 2  # the old one and ONE catch-up

    # Started again, the daemon finds the slot audited: no catch-up.
    again = start_daemon(config, name="again")
    wait_for(lambda: "no catch-up" in again.log, 30, "the start-up decision")
    time.sleep(0.5)
    assert again.terminate() == 0
    assert len(stored_runs(url)) == 2


def test_an_incomplete_audit_is_no_success_but_covers_its_slot_at_restart(
    simulator: SimulatorServer, start_simulator: Callable[..., SimulatorServer], tmp_path: Path,
    start_daemon: StartDaemon
) -> None:
    """One meaning of success (a complete audit) in the heartbeat, /metrics and /readyz; and a
    restart after an incomplete audit of the slot does not audit it again."""
    url = f"sqlite:///{tmp_path}/state.db"
    now = SYSTEM_CLOCK.now()
    cron = f"{now.minute} {(now.hour + 12) % 24} * * *"  # daily, far from now
    port = free_port()
    config = write_config(tmp_path / "auditor.yaml", simulator, url, cron=cron,
                          health={"port": port, "host": "127.0.0.1"})
    dead = start_simulator("demo")
    dead.set_faults([{"endpoint": "GetApiKeys", "status": 401}])
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["tenants"].append({"name": "acme-dead", "url": dead.url, "api_key": dead.app_key,
                            "timeout_seconds": 5})
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    old = run_audit(load_config(config))  # after the latest slot, one tenant not collected
    assert old.status == "incomplete"

    daemon = start_daemon(config)
    wait_for(lambda: "no catch-up" in daemon.log, 30, "the start-up decision")
    assert f"the audit {old.run_id} (incomplete) covers the slot" in daemon.log
    assert "no complete audit on record" in daemon.log
    beat = daemon.wait_heartbeat(lambda b: b.get("last_status") == "incomplete", 30,
                                 "the stored status in the heartbeat")
    assert beat["last_success"] is None
    wait_for(lambda: _get(f"http://127.0.0.1:{port}/readyz") is not None, 30, "/readyz")
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    ready = requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    assert ready.status_code == 503 and ready.json()["status"] == "not ready"
    assert old.run_id in ready.json()["problems"][0]
    metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert "soar_auditor_last_success_timestamp_seconds 0.0" in metrics
    assert "soar_auditor_last_audit_complete 0.0" in metrics
    assert 'soar_auditor_build_info{python="' in metrics and 'version="0.1.0"' in metrics
    time.sleep(0.5)
    assert daemon.terminate() == 0
    assert len(stored_runs(url)) == 1  # no catch-up audit


def _get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=2)
    except requests.ConnectionError:
        return None


def test_configuration_is_reread_before_every_audit(simulator: SimulatorServer, tmp_path: Path,
                                                    start_daemon: StartDaemon) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    config = write_config(tmp_path / "auditor.yaml", simulator, url)
    good = config.read_text(encoding="utf-8")
    daemon = start_daemon(config, "--trigger-seconds", "1")
    daemon.wait_heartbeat(lambda b: audits(b) >= 1, 30, "the first audit")

    config.write_text(good.replace("tenants:", "tenantz:"), encoding="utf-8")  # broken
    n = audits(daemon.heartbeat())
    beat = daemon.wait_heartbeat(lambda b: audits(b) >= n + 2, 30, "audits after the change")
    assert "configuration change rejected, keeping the last good one" in daemon.log
    assert "tenants: is required" in daemon.log and beat["last_status"] == "complete"

    data = yaml.safe_load(good)
    data["reports"]["formats"] = ["json", "csv"]
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    n = audits(daemon.heartbeat())
    beat = daemon.wait_heartbeat(lambda b: audits(b) >= n + 2, 30, "audits after the fix")
    assert daemon.terminate() == 0
    assert (tmp_path / "reports" / beat["last_run_id"] / "findings.csv").is_file()


@pytest.mark.postgres
def test_two_schedulers_on_one_postgres_store_audit_each_slot_once(
    simulator: SimulatorServer, tmp_path: Path, start_daemon: StartDaemon, pg_url: str
) -> None:
    config = write_config(tmp_path / "auditor.yaml", simulator, pg_url)
    first = start_daemon(config, "--trigger-seconds", "2", name="replica-a")
    second = start_daemon(config, "--trigger-seconds", "2", name="replica-b")
    wait_for(lambda: len(stored_runs(pg_url)) >= 4, 60, "four audits in the store")
    assert first.terminate() == 0
    assert second.terminate() == 0

    runs = stored_runs(pg_url)
    assert {r.status for r in runs} == {"complete"}
    pattern = r"(?:scheduled|catch-up) audit starting \(slot (\S+)\)"
    slots_a = re.findall(pattern, first.log)
    slots_b = re.findall(pattern, second.log)
    assert not set(slots_a) & set(slots_b), "a slot was audited by both replicas"
    assert len(set(slots_a + slots_b)) == len(slots_a + slots_b)
    # Every audit in the store is one replica's audit of one slot (a catch-up included: with
    # slots 2 s apart on a loaded machine the second replica may start after another slot).
    catch_ups = (first.log + second.log).count("catch-up audit starting")
    assert 1 <= catch_ups <= 2
    assert len(runs) == len(slots_a) + len(slots_b)
    assert "audited by another replica" in first.log + second.log


def test_a_bad_configuration_at_start_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "auditor.yaml"
    bad.write_text("tenants: []\nschedule: {cron: '0 25 * * *'}\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "auditor", "schedule", "--config", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"soar-auditor: {bad}:")
    assert len(proc.stderr.strip().splitlines()) == 1
