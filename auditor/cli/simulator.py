"""`soar-auditor simulator`: serve the SOAR API simulator on loopback until SIGINT/SIGTERM."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from auditor.cli import clock_of
from auditor.cli.errors import EXIT_CONFIG, fail
from auditor.cli.output import say


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="TCP port; 0 picks a free one.")
@click.option("--scenario", "scenario_path", type=click.Path(dir_okay=False), default=None,
              help="A scenario YAML file (default: the built-in demo tenant).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Loopback address to bind (127.0.0.0/8, ::1 or localhost).")
@click.option("--phase", default=None, help="Start in this phase of the scenario.")
@click.option("--service-account-out", "account_out", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Write the simulator's own service-account key (a throwaway key that only "
              "this simulator accepts) to FILE (mode 0600), for auditing its Chronicle surface "
              "with chronicle.google_credentials_file; removed when the simulator stops.")
def simulator(port: int, scenario_path: str | None, host: str, phase: str | None,
              account_out: Path | None) -> None:
    """Serve the SOAR API simulator on loopback until stopped (Ctrl-C or SIGTERM)."""
    from auditor.config import is_loopback_host
    from auditor.simulator.scenario import ScenarioError, builtin_scenario, load_scenario
    from auditor.simulator.server import SimulatorServer

    if not is_loopback_host(host):
        fail(f"--host must be a loopback address, not {host!r}", EXIT_CONFIG)
    try:
        scenario = load_scenario(scenario_path) if scenario_path else builtin_scenario("demo")
    except ScenarioError as exc:
        fail(str(exc), EXIT_CONFIG)
    server = SimulatorServer(scenario, host=host, port=port, clock=clock_of().now)
    try:
        server.set_phase(phase)
    except KeyError as exc:
        fail(str(exc).strip("'\""), EXIT_CONFIG)
    try:
        server.start()
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_CONFIG)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    say(f"SOAR simulator for tenant {scenario.tenant} ({server.phase} phase)",
        event="simulator_started", url=server.url, app_key=server.app_key)
    say(f"URL:    {server.url}")
    say(f"AppKey: {server.app_key}   (the simulator's own key, not a secret)")
    say(f"Phases: {', '.join(['base', *scenario.phase_names])}; switch with")
    say(f"  curl -X POST {server.url}/_sim/phase -d '{{\"phase\": \"<name>\"}}'")
    chron = scenario.chronicle
    if chron is not None:
        say(f"Chronicle: project {chron.project}, location {chron.location}, instance "
            f"{chron.instance}; endpoint and iam_endpoint {server.url}")
    if account_out is not None:
        account_out.parent.mkdir(parents=True, exist_ok=True)
        account_out.touch(mode=0o600)
        account_out.chmod(0o600)
        account_out.write_text(json.dumps(server.service_account_info()), encoding="utf-8")
        say(f"Service account key (accepted by this simulator only): {account_out}")
    say("Stop with Ctrl-C.")
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        if account_out is not None:
            account_out.unlink(missing_ok=True)
    say("simulator stopped", event="simulator_stopped")
