"""How a command ends when something goes wrong that it did not handle itself.

* An unexpected exception anywhere in a command is one line naming the command and what it was
  doing (``soar-auditor: run: unexpected KeyError while writing reports: 'x'; rerun with -v for
  the traceback``); the traceback (secrets scrubbed) only at ``-v``. Exit 3 (the command could
  not finish; for ``run``: the audit is incomplete), or 2 when it happened while reading the
  configuration. Never 1: that means failing findings.
* Usage errors keep click's message and exit 2; Ctrl-C outside ``run`` exits 130.
* A problem a command recognises ends through :func:`fail`: one line naming what is wrong
  (``soar-auditor: ...``), no traceback, and the documented exit code.
* In ``--log-format json`` each of these is one JSON record.
"""

from __future__ import annotations

import errno
import sys
import traceback
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import Any, NoReturn

import click

from auditor.cli.output import PREFIX, say
from auditor.logs import current_format, current_verbosity, scrub
from auditor.textsafe import term_safe

# The exit codes of interfaces.md ("Exit codes"); 1 is also what a command that ran reports when
# what it checked is not right (unhealthy, not delivered, not captured).
EXIT_PROBLEM = 1
EXIT_CONFIG = 2
EXIT_INCOMPLETE = 3
EXIT_SIGINT = 130
EXIT_SIGPIPE = 141  # as a shell shows a process that SIGPIPE ended

# The command being run (set by the root command): named in the one-line error.
INVOCATION: dict[str, Any] = {"command": None}

# Module prefix -> what the command was doing there; the outermost frame of the traceback in one
# of these names the activity (run -> pipeline -> report.html -> engine: "writing reports").
ACTIVITIES: tuple[tuple[str, str], ...] = (
    ("auditor.config.loader", "reading the configuration"),
    ("auditor.config", "reading the configuration"),
    ("auditor.engine.exceptions", "reading the exceptions file"),
    ("auditor.engine.rules", "loading the rules"),
    ("auditor.report", "writing reports"),
    ("auditor.notify", "sending Slack alerts"),
    ("auditor.state", "using the state store"),
    ("auditor.soar", "collecting the tenants"),
    ("auditor.capture", "capturing the tenant"),
    ("auditor.doctor", "running the checks"),
    ("auditor.engine", "evaluating the rules"),
    ("auditor.simulator", "serving the simulator"),
    ("auditor.schedule.record", "serving health"),
    ("auditor.schedule.heartbeat", "serving health"),
    ("auditor.schedule.checks", "serving health"),
    ("auditor.schedule.metrics", "serving health"),
    ("auditor.schedule.http", "serving health"),
    ("auditor.schedule.daemon", "scheduling audits"),
    ("auditor.schedule.crontab", "scheduling audits"),
)
CONFIG_ACTIVITIES = frozenset({"reading the configuration", "reading the exceptions file",
                               "loading the rules"})


def _modules(frames: Sequence[FrameType]) -> list[str]:
    return [str(f.f_globals.get("__name__", "")) for f in frames]


def activity_of(frames: Sequence[FrameType]) -> str | None:
    """What the code was doing, from its stack (outermost first)."""
    for module in _modules(frames):
        for prefix, what in ACTIVITIES:
            if module == prefix or module.startswith(prefix + "."):
                return what
    return None


def traceback_frames(tb: TracebackType | None) -> list[FrameType]:
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames


def stack_frames(frame: FrameType | None) -> list[FrameType]:
    """The frames of a running stack, outermost first (for a signal handler's frame)."""
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return list(reversed(frames))


def _command() -> str:
    return str(INVOCATION.get("command") or "soar-auditor")


def _emit(message: str, *, event: str, code: int, **fields: Any) -> None:
    say(f"{PREFIX}{message}", err=True, level="error", event=event, command=_command(),
        exit_code=code, **fields)


def fail(message: str, code: int, *, tenant: str | None = None,
         event: str = "error") -> NoReturn:
    """End the command on a problem it recognised: one line on stderr (``soar-auditor: ...``,
    secrets scrubbed; in json mode one JSON record with ``event`` and ``exit_code``), no
    traceback, then exit ``code``."""
    say(f"{PREFIX}{message}", err=True, level="error", event=event, tenant=tenant, exit_code=code)
    sys.exit(code)


def report_unexpected(exc: BaseException) -> int:
    """Say what went wrong in one line (and the traceback at -v); return the exit code."""
    doing = activity_of(traceback_frames(exc.__traceback__))
    code = EXIT_CONFIG if doing in CONFIG_ACTIVITIES else EXIT_INCOMPLETE
    name = type(exc).__name__
    detail = str(exc.strerror if isinstance(exc, OSError) and exc.strerror else exc)
    if isinstance(exc, OSError) and exc.filename:
        detail = f"{detail}: {exc.filename}"
    detail = " ".join(detail.split())[:300]
    while_ = f" while {doing}" if doing else ""
    verbose = current_verbosity() > 0
    tail = "" if verbose else "; rerun with -v for the traceback"
    command = f"{INVOCATION['command']}: " if INVOCATION.get("command") else ""
    message = f"{command}unexpected {name}{while_}" + (f": {detail}" if detail else "") + tail
    trace = scrub("".join(traceback.format_exception(exc)))
    if verbose and current_format() != "json":
        click.echo(term_safe(trace, keep_newlines=True).rstrip(), err=True)
    _emit(message, event="unexpected_error", code=code, exception_type=name, doing=doing,
          exception=trace if verbose else None)
    return code


def run_main(invoke: Callable[[], Any]) -> NoReturn:
    """Run the command line (click in non-standalone mode) and exit with its code."""
    try:
        rv = invoke()
    except click.ClickException as exc:
        if current_format() == "json":
            _emit(exc.format_message(), event="usage_error", code=exc.exit_code)
        else:
            exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt, EOFError):
        command = f"{INVOCATION['command']}: " if INVOCATION.get("command") else ""
        _emit(f"{command}interrupted", event="interrupted", code=EXIT_SIGINT)
        sys.exit(EXIT_SIGINT)
    except SystemExit:
        raise
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # the reader of stdout went away (`| head`)
            _quiet_pipe()
            sys.exit(EXIT_SIGPIPE)
        sys.exit(report_unexpected(exc))
    except Exception as exc:  # noqa: BLE001  (anything a command did not handle: one line)
        sys.exit(report_unexpected(exc))
    sys.exit(rv if isinstance(rv, int) else 0)


def _quiet_pipe() -> None:
    """No second error when the interpreter flushes stdout at exit."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def json_argv(argv: Sequence[str]) -> bool:
    """Whether the command line asks for JSON logs (read before click parses it, so that a usage
    error is a JSON record too)."""
    for i, arg in enumerate(argv):
        if arg == "--log-format" and i + 1 < len(argv):
            return argv[i + 1] == "json"
        if arg.startswith("--log-format="):
            return arg.split("=", 1)[1] == "json"
    return False


__all__ = ["EXIT_CONFIG", "EXIT_INCOMPLETE", "EXIT_PROBLEM", "INVOCATION", "activity_of", "fail",
           "report_unexpected", "run_main", "stack_frames"]
