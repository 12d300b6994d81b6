"""`soar-auditor simulator`: serves until SIGTERM/SIGINT, prints where and with which key."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "auditor", "simulator", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _read_banner(proc: subprocess.Popen[str]) -> dict[str, str]:
    assert proc.stdout is not None
    found: dict[str, str] = {}
    for _ in range(10):
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(("URL:", "AppKey:")):
            name, value = line.split(":", 1)
            found[name] = value.split()[0]
        if "Stop with" in line:
            break
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_the_demo_until_signalled(sig: signal.Signals) -> None:
    proc = _start("--port", "0")
    try:
        banner = _read_banner(proc)
        url, key = banner["URL"], banner["AppKey"]
        assert url.startswith("http://127.0.0.1:")
        r = requests.get(f"{url}/api/external/v1/settings/GetApiKeys",
                         headers={"AppKey": key}, timeout=5)
        assert r.status_code == 200 and len(r.json()) >= 12
        requests.post(f"{url}/_sim/phase", json={"phase": "after"}, timeout=5).raise_for_status()
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_custom_scenario_and_bad_input(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("tenant: tiny\napp_keys: [tiny-key-1]\nsystem_version: '7.0'\n")
    proc = _start("--scenario", str(scenario), "--phase", "base")
    try:
        banner = _read_banner(proc)
        r = requests.get(f"{banner['URL']}/api/external/v1/settings/GetSystemVersion",
                         headers={"AppKey": "tiny-key-1"}, timeout=5)
        assert r.json() == "7.0"
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    scenario.write_text("tenant: tiny\n")
    from click.testing import CliRunner

    from auditor.cli.simulator import simulator

    for args, message in (
        (["--scenario", str(scenario)], "s.yaml:1: app_keys: is required"),
        (["--host", "192.0.2.1"], "--host must be a loopback address"),
        (["--phase", "later"], "no phase 'later'"),
        (["--scenario", str(tmp_path / "missing.yaml")], "cannot read the scenario"),
    ):
        done = CliRunner().invoke(simulator, args)
        assert done.exit_code == 2, done.output
        assert message in done.stderr
