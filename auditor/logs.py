"""Logging set-up: text or JSON lines, and a filter that keeps every known secret out of logs."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from auditor.textsafe import term_safe

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
REDACTED = "[REDACTED]"


def register_secret(value: str | None) -> None:
    """Remember a secret so that no log line (or scrubbed message) can carry it."""
    if value and len(value) >= 4:
        with _LOCK:
            _SECRETS.add(value)


def scrub(text: str) -> str:
    """Replace every registered secret in ``text``."""
    with _LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class _ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = term_safe(scrub(message), keep_newlines=True)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


# Fields a log call may add with ``extra=`` (besides ``fields``, a dict merged in as it is).
EXTRA_FIELDS = ("tenant", "run_id", "event")
_STATE: dict[str, Any] = {"verbose": 0, "format": "text"}
_TENANTS: set[str] = set()
_TENANT_IN_TEXT = re.compile(r"(?:^|[\s(:])tenant '?([A-Za-z0-9_.-]+)")


def current_format() -> str:
    """The log format of this process (``text`` or ``json``), as set by :func:`setup_logging`."""
    return str(_STATE["format"])


def current_verbosity() -> int:
    return int(_STATE["verbose"])


def register_tenants(names: Iterable[str]) -> None:
    """The configured tenant names: a JSON log line that names one of them (``tenant X ...``, or
    from a thread of that tenant's pool) gets a ``tenant`` field even when its logger gave none."""
    with _LOCK:
        _TENANTS.update(names)


def tenant_of(message: str, thread_name: str = "") -> str | None:
    """The configured tenant a log line is about: named as ``tenant X`` in the message, else the
    tenant whose connection pool the thread belongs to (``soar-<tenant>-<surface>_N``)."""
    with _LOCK:
        known = set(_TENANTS)
    if not known:
        return None
    for match in _TENANT_IN_TEXT.finditer(message):
        name = match.group(1).rstrip(".:")
        if name in known:
            return name
    if thread_name.startswith("soar-"):
        owners = [t for t in known if thread_name.startswith(f"soar-{t}-")]
        if owners:
            return max(owners, key=len)
    return None


def json_record(message: str, *, level: str = "info", logger: str = "auditor.cli",
                created: float | None = None, **fields: Any) -> dict[str, Any]:
    """One structured log record (what every line of ``--log-format json`` is): time, level,
    logger, message, then the given fields (None values left out). Text is scrubbed of secrets
    and of terminal control characters."""
    # A log line is dated like every other log record: by the logging module's wall time
    moment = datetime.fromtimestamp(time.time() if created is None else created, tz=UTC)
    payload: dict[str, Any] = {
        "time": moment.isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "message": term_safe(scrub(message), keep_newlines=True),
    }
    for key, value in fields.items():
        if value is None:
            continue
        payload[key] = term_safe(scrub(value), keep_newlines=True) if isinstance(value, str) \
            else value
    return payload


def json_line(message: str, **kw: Any) -> str:
    return json.dumps(json_record(message, **kw), ensure_ascii=False, default=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        fields: dict[str, Any] = {}
        for key in EXTRA_FIELDS:
            if hasattr(record, key):
                fields[key] = getattr(record, key)
        if "tenant" not in fields:
            fields["tenant"] = tenant_of(message, record.threadName or "")
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            fields.update({k: v for k, v in extra.items() if k not in fields})
        if record.exc_text:
            fields["exception"] = record.exc_text
        return json_line(message, level=record.levelname.lower(), logger=record.name,
                         created=record.created, **fields)


@contextmanager
def logging_to(console: Any) -> Iterator[None]:
    """While a rich live display (progress) runs on ``console``, print log lines through it, so
    they stand above the display instead of tearing it; secrets are scrubbed as everywhere."""
    from rich.logging import RichHandler

    root = logging.getLogger()
    previous = list(root.handlers)
    handler = RichHandler(console=console, show_path=False, markup=False, rich_tracebacks=False)
    handler.addFilter(_ScrubFilter())
    for old in previous:
        root.removeHandler(old)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        for old in previous:
            root.addHandler(old)


def setup_logging(verbose: int = 0, fmt: str = "text") -> None:
    """Log to stderr: text lines, or (``json``) one JSON record per line. In json mode Python
    warnings and uncaught exceptions of threads are log records too, so that every line the
    process writes parses as JSON."""
    _STATE["verbose"], _STATE["format"] = verbose, fmt
    level = logging.DEBUG if verbose >= 1 else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ScrubFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(fmt == "json")
    threading.excepthook = _thread_excepthook if fmt == "json" else threading.__excepthook__
    # Libraries log full URLs and headers at DEBUG; keep them quiet unless asked twice.
    for noisy in ("urllib3", "slack_sdk", "apscheduler", "sqlalchemy", "requests"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    if verbose == 0:  # urllib3 warns at every retry; the tenant's one error line says it all
        logging.getLogger("urllib3").setLevel(logging.ERROR)


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("auditor").error(
        "unexpected %s in thread %s", args.exc_type.__name__, name,
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
        if current_verbosity() else None,
        extra={"event": "unexpected_error"},
    )
