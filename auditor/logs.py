"""Logging set-up: text or JSON lines, and a filter that keeps every known secret out of logs."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterator
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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("tenant", "run_id", "event"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_text:
            payload["exception"] = record.exc_text
        return json.dumps(payload, ensure_ascii=False)


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
    # Libraries log full URLs and headers at DEBUG; keep them quiet unless asked twice.
    for noisy in ("urllib3", "slack_sdk", "apscheduler", "sqlalchemy", "requests"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    if verbose == 0:  # urllib3 warns at every retry; the tenant's one error line says it all
        logging.getLogger("urllib3").setLevel(logging.ERROR)
