"""`soar-auditor notify`: check the Slack set-up (--test) or deliver queued alerts (--retry)."""

from __future__ import annotations

import click

from auditor.cli import clock_of
from auditor.cli.errors import EXIT_CONFIG, EXIT_PROBLEM, fail
from auditor.cli.output import say


@click.command(name="notify")
@click.option("--config", "config_path", required=True,
              type=click.Path(dir_okay=False, path_type=str), help="The configuration file.")
@click.option("--test", "test", is_flag=True,
              help="Send a test message to the default destination and every route.")
@click.option("--retry", "retry", is_flag=True,
              help="Deliver the alerts still waiting in the outbox (Slack was down or refused).")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="--retry: seconds to wait for a running audit (which delivers them itself).")
def notify(config_path: str, test: bool, retry: bool, lock_timeout: float) -> None:
    """Test the Slack set-up, or retry undelivered alerts.

    Exit status: 0 when Slack accepted every message, 1 when some could not be delivered
    (they stay queued), 2 for a usage or configuration problem.
    """
    if test == retry:
        fail("notify: give exactly one of --test or --retry", EXIT_CONFIG)
    from auditor.config import ConfigError, load_config
    from auditor.logs import scrub
    from auditor.notify import deliver_pending, send_test

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    if config.slack is None:
        fail(f"{config_path}: there is no slack: section, so there is nothing to notify",
             EXIT_CONFIG)
    if test:
        outcome = send_test(config.slack)
        for error in outcome.errors:
            say(f"not delivered: {error}", err=True, level="error", event="not_delivered")
        say(f"test message sent to {outcome.sent} destination(s), {outcome.failed} failed",
            event="notify_test", sent=outcome.sent, failed=outcome.failed)
        raise SystemExit(0 if outcome.failed == 0 else 1)

    from auditor.state import LockBusy, StoreError, open_store, state_url

    try:
        store = open_store(state_url(config), retention_days=config.retention_days,
                           clock=clock_of())
    except StoreError as exc:
        fail(scrub(str(exc)), EXIT_CONFIG)
    # The audit lock: an audit delivers the outbox too, and no alert may go out twice.
    try:
        with store, store.audit_lock(wait=True, timeout=lock_timeout):
            outcome = deliver_pending(config.slack, store)
    except LockBusy:
        fail("notify: an audit is running and delivers the queued alerts itself; "
             "try again when it has finished", EXIT_PROBLEM)
    except StoreError as exc:
        fail(scrub(str(exc)), EXIT_CONFIG)
    for error in outcome.errors:
        say(error, err=True, level="error", event="not_delivered")
    say(f"delivered {outcome.sent} queued Slack message(s), {outcome.failed} still waiting",
        event="notify_retry", sent=outcome.sent, failed=outcome.failed)
    raise SystemExit(0 if outcome.failed == 0 and not outcome.errors else 1)
