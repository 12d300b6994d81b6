"""`soar-auditor schedule` (the long-running daemon) and `soar-auditor healthcheck`."""

from __future__ import annotations

import logging
import os
import sys

import click

from auditor.cli import clock_of
from auditor.cli.errors import EXIT_CONFIG, EXIT_PROBLEM, fail
from auditor.cli.output import say
from auditor.config import ConfigError, load_config

log = logging.getLogger("auditor.cli")


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="The YAML configuration file (re-read before every audit).")
@click.option("--run-now", is_flag=True,
              help="Audit once at start, whatever the schedule says, then follow the schedule.")
@click.option("--trigger-seconds", type=click.FloatRange(min=0.5), default=None, hidden=True,
              envvar="SOAR_AUDITOR_TRIGGER_SECONDS",
              help="Audit every N seconds instead of the cron schedule (tests and trials).")
@click.option("--heartbeat-interval", type=click.FloatRange(min=0.05), default=30.0, hidden=True,
              envvar="SOAR_AUDITOR_HEARTBEAT_INTERVAL", show_default=True,
              help="Seconds between heartbeat writes.")
def schedule(config_path: str, run_now: bool, trigger_seconds: float | None,
             heartbeat_interval: float) -> None:
    """Run audits on the configured cron schedule until SIGTERM/SIGINT.

    At start, audits at once when the last successful audit is older than the latest scheduled
    slot. On SIGTERM/SIGINT no new audit starts and the one in progress gets
    schedule.shutdown_grace_seconds to finish; exit 0 either way.
    """
    from auditor.schedule.daemon import Scheduler

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    daemon = Scheduler(config_path, config, run_now=run_now, interval_seconds=trigger_seconds,
                       heartbeat_interval=heartbeat_interval, clock=clock_of())
    code = daemon.run()
    if daemon.abandoned:
        # The abandoned audit's thread would hold the interpreter at exit: leave now, cleanly
        # (logs flushed; the store's lock goes with the process).
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


@click.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              help="The configuration (to find schedule.health.heartbeat_file).")
@click.option("--heartbeat-file", type=click.Path(dir_okay=False), default=None,
              help="The scheduler's heartbeat file [default: schedule.health.heartbeat_file of "
                   "--config, else $SOAR_AUDITOR_HEARTBEAT_FILE, else <reports.dir>/"
                   "heartbeat.json].")
@click.option("--max-audit-seconds", type=click.FloatRange(min=1), default=6 * 3600,
              show_default=True, help="An audit running longer than this is stuck.")
@click.option("--max-heartbeat-age", type=click.FloatRange(min=0.1), default=None,
              help="A heartbeat older than this is stale [default: 4 heartbeat intervals + 10 s].")
@click.option("--liveness", is_flag=True,
              help="Check only that the scheduler is alive and not stuck (not that audits are on "
                   "time): for a Kubernetes liveness probe.")
@click.option("--readiness", is_flag=True,
              help="Also fail unless the last audit was complete (every tenant collected in "
                   "full), as /readyz does.")
def healthcheck(config_path: str | None, heartbeat_file: str | None, max_audit_seconds: float,
                max_heartbeat_age: float | None, liveness: bool, readiness: bool) -> None:
    """Exit 0 when the scheduler is healthy, 1 when it is stuck, stopped, silent or overdue
    (--readiness: or when the last audit was not complete).

    Reads only the heartbeat file the scheduler writes (no secret, no network): for Docker's
    HEALTHCHECK and Kubernetes exec probes.
    """
    from auditor.schedule.checks import check, readiness_problems
    from auditor.schedule.heartbeat import heartbeat_path, read_heartbeat

    config = None
    if config_path is not None and heartbeat_file is None:
        try:
            config = load_config(config_path, store_only=True)
        except ConfigError as exc:
            fail(str(exc), EXIT_CONFIG)
    try:
        path = heartbeat_path(config, heartbeat_file)
        data = read_heartbeat(path)
    except ValueError as exc:
        fail(f"unhealthy: {exc}", EXIT_PROBLEM)
    problems = check(data, clock_of().now(), max_audit_seconds=max_audit_seconds,
                     max_heartbeat_age=max_heartbeat_age, overdue=not liveness)
    if readiness:
        problems += readiness_problems(data)
    if problems:
        for problem in problems:
            say(f"unhealthy: {problem}", err=True, level="error", event="unhealthy")
        sys.exit(EXIT_PROBLEM)
    state = data.get("state")
    say(f"healthy: {state}, last complete audit {data.get('last_success') or 'never'}, "
        f"last audit {data.get('last_status') or 'none yet'}, "
        f"next run {data.get('next_run') or 'unknown'}", event="healthy",
        state=state, last_success=data.get("last_success"), last_status=data.get("last_status"))


__all__ = ["healthcheck", "schedule"]
