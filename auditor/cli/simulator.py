"""`soar-auditor simulator`: serve the SOAR API simulator on loopback until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

import click

from auditor.cli import clock_of
from auditor.textsafe import term_safe


@click.command()
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="TCP port; 0 picks a free one.")
@click.option("--scenario", "scenario_path", type=click.Path(dir_okay=False), default=None,
              help="A scenario YAML file (default: the built-in demo tenant).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Loopback address to bind (127.0.0.0/8, ::1 or localhost).")
@click.option("--phase", default=None, help="Start in this phase of the scenario.")
def simulator(port: int, scenario_path: str | None, host: str, phase: str | None) -> None:
    """Serve the SOAR API simulator on loopback until stopped (Ctrl-C or SIGTERM)."""
    from auditor.config import is_loopback_host
    from auditor.simulator.scenario import ScenarioError, builtin_scenario, load_scenario
    from auditor.simulator.server import SimulatorServer

    def fail(message: str) -> None:
        click.echo(f"soar-auditor: {term_safe(message)}", err=True)
        sys.exit(2)

    if not is_loopback_host(host):
        fail(f"--host must be a loopback address, not {host!r}")
    try:
        scenario = load_scenario(scenario_path) if scenario_path else builtin_scenario("demo")
    except ScenarioError as exc:
        fail(str(exc))
        return
    server = SimulatorServer(scenario, host=host, port=port, clock=clock_of().now)
    try:
        server.set_phase(phase)
    except KeyError as exc:
        fail(str(exc).strip("'\""))
    try:
        server.start()
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    click.echo(f"SOAR simulator for tenant {term_safe(scenario.tenant)} ({server.phase} phase)")
    click.echo(f"URL:    {server.url}")
    click.echo(f"AppKey: {server.app_key}   (the simulator's own key, not a secret)")
    click.echo(f"Phases: {', '.join(['base', *scenario.phase_names])}; switch with")
    click.echo(f"  curl -X POST {server.url}/_sim/phase -d '{{\"phase\": \"<name>\"}}'")
    click.echo("Stop with Ctrl-C.", nl=True)
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    click.echo("simulator stopped")
