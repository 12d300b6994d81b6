"""The `soar-auditor` command. Each sub-command lives in its own module, imported only when used,
so that `--help` and `--version` start fast."""

from __future__ import annotations

import importlib
from typing import Any

import click

from auditor import __version__
from auditor.clock import SYSTEM_CLOCK, Clock

# command name -> "module:attribute" (a click.Command)
COMMANDS: dict[str, str] = {
    "run": "auditor.cli.run:run",
    "demo": "auditor.cli.run:demo",
    "rules": "auditor.cli.rules:rules",
    "simulator": "auditor.cli.simulator:simulator",
    "history": "auditor.cli.history:history",
    "report": "auditor.cli.history:report",
    "notify": "auditor.cli.notify:notify",
    "schedule": "auditor.cli.schedule:schedule",
    "healthcheck": "auditor.cli.schedule:healthcheck",
    "doctor": "auditor.cli.doctor:doctor",
    "capture": "auditor.cli.doctor:capture",
}

HELP: dict[str, str] = {
    "run": "Audit every tenant of the configuration once, now.",
    "demo": "Audit a simulated tenant end to end (no SOAR, no Slack needed).",
    "rules": "List, show and validate compliance rules.",
    "simulator": "Serve the SOAR API simulator on loopback.",
    "history": "Recent audits from the state store.",
    "report": "Re-render the outputs of a stored audit.",
    "notify": "Test the Slack set-up or retry undelivered alerts.",
    "schedule": "Run audits on the configured cron schedule until stopped.",
    "healthcheck": "Exit non-zero when the scheduler is stuck or audits are overdue.",
    "doctor": "Check connectivity, TLS, authentication and API shapes of each tenant.",
    "capture": "Record one tenant's API responses into a secret-free simulator scenario.",
}


class LazyGroup(click.Group):
    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """As click's, but every way a command can end is one line (or one JSON record) and an
        exit code that keeps its meaning (see :mod:`auditor.cli.errors`)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        import sys

        from auditor.cli.errors import INVOCATION, json_argv, run_main

        argv = list(sys.argv[1:] if args is None else args)
        INVOCATION["command"] = next((a for a in argv if a in COMMANDS), None)
        if json_argv(argv):  # a usage error found while parsing is a JSON record too
            from auditor.logs import setup_logging

            setup_logging(0, "json")
        run_main(lambda: super(LazyGroup, self).main(
            argv, prog_name, complete_var, standalone_mode=False, **extra))

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return None
        command = getattr(module, attr, None)
        if not isinstance(command, click.Command):
            return None
        _add_common_options(command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, HELP.get(name, "")) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        obj = options(ctx)
        obj["verbose"] = max(int(obj.get("verbose", 0)), value)
        _apply_logging(obj)


def _set_log_format(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        obj = options(ctx)
        obj["log_format"] = value
        _apply_logging(obj)


def _apply_logging(obj: dict[str, Any]) -> None:
    from auditor.logs import setup_logging

    setup_logging(int(obj.get("verbose", 0)), str(obj.get("log_format", "text")))


def _add_common_options(command: click.Command) -> None:
    """`-v` and `--log-format` are accepted after any sub-command too (`run --log-format json`)."""
    existing = {opt for p in command.params for opt in getattr(p, "opts", [])}
    if "--log-format" not in existing:
        command.params.append(click.Option(
            ["--log-format"], type=click.Choice(["text", "json"]), default=None,
            expose_value=False, callback=_set_log_format, is_eager=True,
            help="text or json (structured log lines only).",
        ))
    if "--verbose" not in existing and "-v" not in existing:
        command.params.append(click.Option(
            ["-v", "--verbose"], count=True, expose_value=False, callback=_set_verbose,
            is_eager=True, help="More logging (-vv includes HTTP libraries).",
        ))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="soar-auditor")
@click.option("-v", "--verbose", count=True, help="More logging (-vv includes HTTP libraries).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: structured log lines only (no progress display or tables).",
)
@click.pass_context
def main(ctx: click.Context, verbose: int, log_format: str) -> None:
    """Compliance auditor for the API keys of Google SecOps SOAR (formerly Siemplify)."""
    from auditor.logs import setup_logging

    setup_logging(verbose, log_format)
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    ctx.obj["log_format"] = log_format


def options(ctx: click.Context) -> dict[str, Any]:
    """The global options, for sub-commands."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = {}
    obj: dict[str, Any] = root.obj
    return obj


def clock_of(ctx: click.Context | None = None) -> Clock:
    """The clock of this invocation (of the current click context when ``ctx`` is None): the one
    a caller put in the context object (``obj={"clock": FixedClock(...)}``), else the system
    clock."""
    ctx = ctx or click.get_current_context(silent=True)
    clock = options(ctx).get("clock") if ctx is not None else None
    return clock if isinstance(clock, Clock) else SYSTEM_CLOCK
