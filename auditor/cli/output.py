"""What the commands print: one line for a person, or in ``--log-format json`` one JSON record
per line (on the same stream), so that every line a json-mode run writes parses as JSON. How a
command ends on an error is :mod:`auditor.cli.errors`."""

from __future__ import annotations

import json
from typing import Any

import click

from auditor.logs import current_format, json_record, scrub
from auditor.textsafe import term_safe

PREFIX = "soar-auditor: "


def json_mode() -> bool:
    return current_format() == "json"


def say(message: str, *, err: bool = False, level: str = "info", event: str | None = None,
        tenant: str | None = None, scrubbed: bool = True, **fields: Any) -> None:
    """``message`` as one line (control characters shown as escapes, secrets scrubbed unless
    ``scrubbed`` is False: a text known to hold none, such as the simulator's own key), or, in
    json mode, one JSON record with ``event``, ``tenant`` and ``fields`` (without the line's
    ``soar-auditor: `` prefix: the record names its logger)."""
    if json_mode():
        message = message.removeprefix(PREFIX)
        record = json_record(message, level=level, event=event, tenant=tenant, **fields)
        if not scrubbed:
            record["message"] = term_safe(message)
        click.echo(json.dumps(record, ensure_ascii=False, default=str), err=err)
    else:
        click.echo(term_safe(scrub(message) if scrubbed else message), err=err)


def echo_data(text: str) -> None:
    """A command's data (a table, a document) on stdout, as it is."""
    click.echo(text)


__all__ = ["PREFIX", "echo_data", "json_mode", "say"]
