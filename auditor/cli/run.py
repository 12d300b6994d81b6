"""`soar-auditor run` and `soar-auditor demo`."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from auditor.cli import clock_of, options
from auditor.cli.errors import EXIT_CONFIG, EXIT_INCOMPLETE, fail
from auditor.cli.filters import build_filter, report_filter_options, select_tenants
from auditor.cli.output import json_mode, say
from auditor.config import FORMATS, Config, ConfigError, load_config, parse_config
from auditor.textsafe import term_safe

if TYPE_CHECKING:
    from auditor.pipeline import Progress
    from auditor.result import RunResult

log = logging.getLogger("auditor.cli")
SEVERITY_CHOICES = ["critical", "high", "medium", "low", "info", "none"]


def _interactive(ctx: click.Context) -> bool:
    return options(ctx).get("log_format", "text") == "text" and sys.stderr.isatty()


@contextmanager
def progress_display(ctx: click.Context, tenants: list[str]) -> Iterator[Progress | None]:
    """A spinner per tenant on a terminal; nothing otherwise (logs say what happens)."""
    if not _interactive(ctx):
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    from auditor.logs import logging_to

    console = Console(stderr=True)
    with logging_to(console), RichProgress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=console, transient=False,
    ) as bar:
        tasks = {t: bar.add_task(f"{term_safe(t)}: waiting", total=1) for t in tenants}

        def update(tenant: str, event: str) -> None:
            task = tasks.get(tenant)
            if task is None:
                return
            label = {"start": "collecting", "ok": "collected", "error": "FAILED"}.get(event, event)
            bar.update(task, description=f"{term_safe(tenant)}: {label}",
                       completed=1 if event in ("ok", "error") else 0)

        yield update


def print_summary(ctx: click.Context, result: RunResult, out_dir: Path) -> None:
    from auditor.cli.summary import print_summary as show

    show(result, out_dir, json_mode=options(ctx).get("log_format") == "json")


def _parse_shard(value: str | None) -> tuple[int, int] | None:
    import os

    from auditor.schedule.shard import parse_shard

    try:
        return parse_shard(value, dict(os.environ))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--shard") from None


@click.command(epilog="--severity, --status, --rule and --exclude-rule narrow what is reported "
                     "(the outputs and the terminal); the verdicts, the state store, --fail-on "
                     "and Slack alerts consider every finding.")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="The YAML configuration file.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Write the outputs here (default: <reports.dir>/<run id>/).")
@click.option("--fail-on", type=click.Choice(SEVERITY_CHOICES), default=None,
              help="Exit 1 when a failing or unknown finding is at or above this severity "
                   "(every finding counts, whatever the reporting filters say).")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS),
              help="Output formats (repeatable); default: reports.formats of the configuration.")
@click.option("--tenant", "tenant_globs", multiple=True, metavar="NAME",
              help="Audit only the tenants matching this name or glob (repeatable).")
@click.option("--shard", default=None, metavar="I/N",
              help="Audit only shard I of N of the tenants (default from JOB_COMPLETION_INDEX).")
@click.option("--no-notify", is_flag=True, help="Do not send Slack alerts for this run.")
@report_filter_options
@click.pass_context
def run(ctx: click.Context, config_path: str, out: Path | None, fail_on: str | None,
        formats: tuple[str, ...], tenant_globs: tuple[str, ...], shard: str | None,
        no_notify: bool, severities: tuple[str, ...], statuses: tuple[str, ...],
        rule_globs: tuple[str, ...], exclude_globs: tuple[str, ...]) -> None:
    """Audit every tenant of the configuration once, now (for cron and CronJobs).

    Exit 0: complete, nothing at or above --fail-on; 1: a failing (or unknown) finding at or
    above --fail-on; 2: usage or configuration error; 3: the audit is incomplete (a tenant not
    collected in full) or could not finish; 143/130: stopped by SIGTERM/SIGINT (the run is
    recorded as interrupted).
    """
    from auditor.cli.interrupt import Interrupted, RunGuard
    from auditor.logs import register_tenants
    from auditor.pipeline import exit_code_for, output_dir

    view = build_filter(severities, statuses, rule_globs, exclude_globs)
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG, event="config_error")
    names = select_tenants([t.name for t in config.tenants], tenant_globs)
    register_tenants(names)
    update: dict[str, Any] = {}
    if formats:
        update["reports"] = config.reports.model_copy(update={"formats": list(formats)})
    if tenant_globs:
        update["tenants"] = [t for t in config.tenants if t.name in names]
    config = config.model_copy(update=update) if update else config
    shard_value = _parse_shard(shard)
    if shard_value is not None:
        from auditor.schedule.shard import select_shard

        if not select_shard(list(config.tenants), shard_value):
            say(f"soar-auditor: shard {shard_value[0]}/{shard_value[1]} has no tenants: "
                "nothing to audit", err=True, event="nothing_to_audit")
            sys.exit(0)
    guard = RunGuard(config, clock_of(ctx))
    try:
        with guard:
            result = _audit(ctx, config, out_dir=out, shard=shard_value, notify=not no_notify,
                            report_view=view.view if view.active else None,
                            on_begin=guard.began)
            out_dir = output_dir(config, result, out)
            shown = view.view(result, [])[0]
            print_summary(ctx, shown, out_dir)
    except Interrupted:
        guard.finish()
    code = exit_code_for(result, fail_on)
    if code == 3:
        for tenant in result.tenants:
            if tenant.status == "error":
                say(f"soar-auditor: tenant {tenant.name} not audited: "
                    f"{tenant.error or 'unknown error'}", err=True, level="error",
                    event="tenant_not_audited", tenant=tenant.name, run_id=result.run_id)
    elif code == 1:
        say(f"soar-auditor: failing findings at or above {fail_on}", err=True, level="error",
            event="fail_on", run_id=result.run_id, fail_on=fail_on)
    sys.exit(code)


def _audit(ctx: click.Context, config: Config, **kw: object) -> RunResult:
    from auditor.pipeline import run_audit

    try:
        with progress_display(ctx, [t.name for t in config.tenants]) as progress:
            return run_audit(config, progress=progress, clock=clock_of(ctx),
                             **kw)  # type: ignore[arg-type]
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG, event="config_error")
    except Exception as exc:  # the state store or the outputs failed: nothing trustworthy
        from auditor.state import LockBusy, StoreError
        from auditor.state.errors import OutputsNotWritten

        if isinstance(exc, OutputsNotWritten):  # it names the folder: no store prefix
            fail(str(exc), EXIT_INCOMPLETE, event="outputs_error")
        if isinstance(exc, (StoreError, LockBusy)):
            fail(f"state store: {exc}", EXIT_INCOMPLETE, event="store_error")
        raise


# ------------------------------------------------------------------------------------------------
@click.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports/demo"), show_default=True,
              help="Where the demo writes its reports and its SQLite state.")
@click.pass_context
def demo(ctx: click.Context, out: Path) -> None:
    """Audit a simulated SOAR tenant end to end: two nightly audits, every report, the alert."""
    from auditor.notify import build_digest, render_terminal, save_slack_json
    from auditor.simulator.scenario import builtin_scenario
    from auditor.simulator.server import SimulatorServer

    out.mkdir(parents=True, exist_ok=True)
    scenario = builtin_scenario("demo")
    clock = clock_of(ctx)
    now = clock.now().replace(microsecond=0)
    with (SimulatorServer(scenario, clock=clock.now).running() as srv,
          tempfile.TemporaryDirectory(prefix="soar-demo-") as keys):
        # The simulator's own throwaway service account (a key for this fake server only),
        # in a private folder removed when the demo ends: google-auth reads keys from files.
        key_file = Path(keys) / "simulator-service-account.json"
        key_file.touch(mode=0o600)
        key_file.write_text(json.dumps(srv.service_account_info()), encoding="utf-8")
        config = demo_config(srv.url, srv.app_key, out, tenant=scenario.tenant,
                             chronicle=_demo_chronicle(srv, key_file))
        # Night 1: yesterday's audit, the tenant as it was.
        first = _audit(ctx, config, now=now - timedelta(days=1),
                       out_dir=out / "history" / "night-1", notify=False)
        # Between the audits an admin changes the tenant (a new key, a new environment, a fix).
        srv.set_phase("after")
        result = _audit(ctx, config, now=now, out_dir=out, notify=False)

    messages = build_digest(result, None,
                            legacy_warning_days=config.rules.params.legacy_api_warning_days)
    save_slack_json(messages, out / "slack.json")  # {"messages": [...]}, as notify writes it
    print_summary(ctx, result, out)
    if not json_mode():
        click.echo()
        click.echo(f"Night 1 ({first.run_id}): {first.summary()['failing']} failing findings.")
        click.echo("The Slack alert this audit would send (saved as slack.json):")
        click.echo(render_terminal(messages))
        click.echo(f"Open the report: {out / 'report.html'}")
    sys.exit(0)


def _demo_chronicle(srv: Any, key_file: Path) -> dict[str, Any]:
    spec = srv.scenario.chronicle
    return {"project": spec.project, "location": spec.location, "instance": spec.instance,
            "endpoint": srv.url, "iam_endpoint": srv.url,
            "google_credentials_file": str(key_file)}


def demo_config(url: str, app_key: str, out: Path, tenant: str = "acme-prod",
                chronicle: dict[str, Any] | None = None) -> Config:
    """The embedded defaults, pointed at the simulator (the simulator's key is not a secret),
    with a naming convention so that SOAR-NAME-001 has something to say; ``chronicle``: the
    tenant's Chronicle API and IAM surfaces, served by the same simulator."""
    entry: dict[str, Any] = {"name": tenant, "url": url, "api_key": app_key}
    if chronicle is not None:
        entry["chronicle"] = chronicle
    return parse_config(
        {
            "tenants": [entry],
            "rules": {"params": {"key_name_pattern": "^[a-z0-9][a-z0-9-]*$"}},
            "state": f"sqlite:///{(out / 'state.db').resolve()}",
            "reports": {"dir": str(out), "formats": list(FORMATS)},
        },
        source="<demo>",
        env={},
    )


__all__ = ["demo", "run"]
