"""`soar-auditor history` (recent audits from the state store) and `soar-auditor report`
(re-render the outputs of a stored audit)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from auditor.cli import clock_of
from auditor.cli.errors import fail as _fail
from auditor.cli.filters import build_filter, report_filter_options
from auditor.cli.output import json_mode, say
from auditor.config import FORMATS, Config, ConfigError, load_config, resolve_path
from auditor.textsafe import term_safe

if TYPE_CHECKING:
    from auditor.state import RunSummary, Store

STATE_ENV = "SOAR_AUDITOR_STATE"


def _config(config_path: str | None) -> Config | None:
    if config_path is None:
        return None
    try:
        return load_config(config_path, store_only=True)  # no tenant secret needed
    except ConfigError as exc:
        _fail(str(exc), 2)
    return None


def _state_target(ctx: click.Context, config: Config | None, state: str | None) -> str:
    """The store URL: --state (or $SOAR_AUDITOR_STATE) wins over the configuration's `state`."""
    from auditor.state import state_url

    if state:
        if ctx.get_parameter_source("state") == ParameterSource.COMMANDLINE:
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                has_password = make_url(state).password is not None
            except ArgumentError:
                has_password = False
            if has_password:
                raise click.UsageError(
                    "--state must not carry a password (secrets are never command-line "
                    f"arguments): set {STATE_ENV}, PGPASSWORD or ~/.pgpass, or use --config"
                )
        return state
    if config is not None:
        return state_url(config)
    raise click.UsageError(f"give --config FILE or --state URL (or set {STATE_ENV})")


@contextmanager
def _open(url: str, config: Config | None) -> Iterator[Store]:
    from auditor.state import StoreError, open_store

    try:
        store = open_store(url, retention_days=config.retention_days if config else 400,
                           clock=clock_of())
    except StoreError as exc:
        _fail(str(exc), 2)
        raise AssertionError("unreachable") from None
    try:
        yield store
    except StoreError as exc:
        _fail(str(exc), 2)
    finally:
        store.close()


_common = [
    click.option("--config", "config_path", type=click.Path(dir_okay=False),
                 help="The YAML configuration file (its `state:` names the store)."),
    click.option("--state", envvar=STATE_ENV, metavar="URL",
                 help="The store URL instead of --config: sqlite:///path/state.db or "
                 "postgresql://user@host/db (the password via $" + STATE_ENV
                 + ", PGPASSWORD or ~/.pgpass)."),
]


def _with_common(f: Any) -> Any:
    for option in reversed(_common):
        f = option(f)
    return f


# ------------------------------------------------------------------------------------------------
@click.command()
@_with_common
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000),
              help="How many runs, newest first.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None,
              help="table (default), or json (the default with --log-format json, then on one "
                   "line).")
@click.pass_context
def history(ctx: click.Context, config_path: str | None, state: str | None, limit: int,
            fmt: str | None) -> None:
    """Recent audits from the state store: status, and per tenant its counts, new and resolved."""
    config = _config(config_path)
    url = _state_target(ctx, config, state)
    with _open(url, config) as store:
        rows = store.history(limit)
    if (fmt or ("json" if json_mode() else "table")) == "json":
        click.echo(json.dumps([r.to_dict() for r in rows], ensure_ascii=False,
                              indent=None if json_mode() else 2))
        return
    _print_table(rows)


def _print_table(rows: list[RunSummary]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = 140  # piped into a file or a log: no reason to squeeze the table
    if not rows:
        console.print("No audit is stored yet.")
        return
    table = Table(title="Recent audits (newest first)", padding=(0, 1))
    table.add_column("run / tenant", overflow="fold", min_width=16)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("status", overflow="fold")
    for col in ("keys", "failing", "unknown", "muted", "new", "resolved"):
        table.add_column(col, justify="right", no_wrap=True)
    style = {"complete": "green", "incomplete": "yellow", "failed": "red", "running": "cyan",
             "interrupted": "red", "ok": "green", "error": "red"}

    def styled(status: str) -> str:
        return f"[{style.get(status, 'white')}]{escape(status)}[/]"

    for run in rows:
        finished = run.status not in ("running", "interrupted")
        counts = (run.failing, run.unknown, run.muted, run.new, run.resolved)
        table.add_row(
            f"[bold]{escape(run.run_id)}[/]", run.started_at.strftime("%Y-%m-%d %H:%M"),
            styled(run.status), "", *(str(v) if finished else "-" for v in counts),
            end_section=not run.tenants,
        )
        for i, t in enumerate(run.tenants):
            status = styled(t.status)
            if t.status != "ok":
                status += f": {escape(term_safe(t.error or ''))}"
            table.add_row(
                f"  {escape(term_safe(t.name))}", "", status, str(t.counts.get("api_keys", "-")),
                *(str(v) for v in (t.failing, t.unknown, t.muted, t.new, t.resolved)),
                end_section=i == len(run.tenants) - 1,
            )
    console.print(table)


# ------------------------------------------------------------------------------------------------
@click.command()
@_with_common
@click.option("--run", "run_id", default="latest", show_default=True, metavar="ID",
              help="The run id (as `history` lists it), or `latest`.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write (default: <reports.dir>/<run id>/, or reports/<run id>/).")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS),
              help="Formats (repeatable); default: reports.formats of the configuration, or all "
              "of html, json, csv. findings.json and inventory.json are always written.")
@report_filter_options
@click.pass_context
def report(ctx: click.Context, config_path: str | None, state: str | None, run_id: str,
           out: Path | None, formats: tuple[str, ...], severities: tuple[str, ...],
           statuses: tuple[str, ...], rule_globs: tuple[str, ...],
           exclude_globs: tuple[str, ...]) -> None:
    """Re-render the outputs of a stored audit (its findings as they were recorded).

    --severity, --status, --rule and --exclude-rule narrow what the outputs show; the stored
    run is not changed.
    """
    from auditor.report import ReportContext, write_reports

    view = build_filter(severities, statuses, rule_globs, exclude_globs)
    config = _config(config_path)
    url = _state_target(ctx, config, state)
    with _open(url, config) as store:
        result = store.load_run(run_id)
        # The trend the audit drew: the 60 runs before it (it is added by the report itself).
        earlier = store.runs(limit=61, until=result.started_at)
        trend = list(reversed([p for p in earlier if p.run_id != result.run_id][:60]))
    chosen = list(formats) or (list(config.reports.formats) if config else ["html", "json", "csv"])
    if out is None:
        base = resolve_path(config, config.reports.dir) if config else Path("reports")
        out = base / result.run_id
    try:
        params = config.rules.params if config else None
        shown, catalog = view.view(result, _rules(config))
        context = ReportContext(
            trend=trend, rules=catalog,
            legacy_api_shutdown=params.legacy_api_shutdown if params else None,
            legacy_api_warning_days=params.legacy_api_warning_days if params else None)
        written = write_reports(shown, out, chosen, context)
    except OSError as exc:
        _fail(f"cannot write the reports into {out}: {exc.strerror or exc}", 2)
        return
    for path in written:
        say(str(path), event="report_written", run_id=result.run_id, path=str(path))


def _rules(config: Config | None) -> list[dict[str, Any]]:
    """The rule catalog for the rule and control views (the configured rules when known)."""
    from auditor.engine.rules import load_rules
    from auditor.pipeline import rule_catalog

    try:
        if config is not None:
            rules = load_rules([resolve_path(config, p) for p in config.rules.paths],
                               config.rules.disabled)
        else:
            rules = load_rules()
    except ConfigError as exc:
        _fail(str(exc), 2)
        return []
    return rule_catalog(rules)
