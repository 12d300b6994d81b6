"""Reading stored values that may have been damaged (a row edited by hand, a disk error, a
restore gone wrong): each problem names the table, the row and the column.

Listings (history, the trend) leave a damaged row out with one warning naming it; what an audit
builds on (a tenant's history) raises :class:`BadRow`, a StoreError: one line, the audit stops.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from auditor.state.errors import StoreError

log = logging.getLogger("auditor.state")


class BadRow(StoreError):
    """A stored row holds a value that cannot be read."""


def raw(column: Any) -> Any:
    """The column as stored (no type conversion in SQLAlchemy), for :func:`read_time`."""
    return sa.type_coerce(column, sa.String)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def read_time(value: Any, row: str, column: str, *, nullable: bool = False) -> datetime | None:
    """An aware UTC datetime from a stored value (a datetime, or SQLite's text)."""
    if value is None:
        if nullable:
            return None
        raise BadRow(f"state: {row}: {column} is empty")
    moment: datetime | None = None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if moment is None:
        raise BadRow(f"state: {row}: {column} {_shown(value)} is not a date and time")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def read_json(value: Any, row: str, column: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        raise BadRow(f"state: {row}: {column} {_shown(value)} is not JSON") from None


def left_out(exc: BadRow, what: str) -> None:
    log.warning("%s; %s", exc, what)
