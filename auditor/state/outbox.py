"""Slack delivery outbox (exactly once) and scheduler slot claims (each slot run once)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditor.logs import scrub
from auditor.state.errors import StoreError
from auditor.state.record import dialect_insert
from auditor.state.schema import outbox, slot_claims

_DESTINATION = re.compile(r"^[A-Za-z0-9_.:@#-]{1,200}$")
MAX_ERROR = 1000


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    run_id: str
    destination: str  # a configuration name ("default", "route:acme"), never a URL or token
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    created_at: datetime


def check_destination(destination: str) -> None:
    if (
        not _DESTINATION.match(destination)
        or "://" in destination
        or destination.startswith(("xox", "hooks."))
    ):
        raise StoreError(
            "outbox: the destination must be a configuration name such as 'default' or "
            "'route:<name>', never a URL or token"
        )


def add(conn: Connection, run_id: str, destination: str, payload: dict[str, Any],
        now: datetime) -> int:
    check_destination(destination)
    res = conn.execute(
        sa.insert(outbox).values(
            run_id=run_id,
            destination=destination,
            payload=json.dumps(payload, ensure_ascii=False),
            state="pending",
            attempts=0,
            created_at=now,
        )
    )
    pk = res.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def pending(conn: Connection) -> list[OutboxItem]:
    rows = conn.execute(
        sa.select(
            outbox.c.id,
            outbox.c.run_id,
            outbox.c.destination,
            outbox.c.payload,
            outbox.c.attempts,
            outbox.c.last_error,
            outbox.c.created_at,
        )
        .where(outbox.c.state == "pending")
        .order_by(outbox.c.id)
    )
    return [OutboxItem(i, r, d, json.loads(p), a, e, c) for i, r, d, p, a, e, c in rows]


def mark_sent(conn: Connection, item_id: int, now: datetime) -> None:
    conn.execute(
        sa.update(outbox)
        .where(outbox.c.id == item_id)
        .values(
            state="sent", sent_at=now, attempts=outbox.c.attempts + 1, last_error=None
        )
    )


def mark_failed(conn: Connection, item_id: int, error: str) -> None:
    conn.execute(
        sa.update(outbox)
        .where(outbox.c.id == item_id)
        .values(attempts=outbox.c.attempts + 1, last_error=scrub(error)[:MAX_ERROR])
    )


def claim(conn: Connection, slot: str, owner: str, now: datetime) -> bool:
    """Insert-if-absent; RETURNING tells whether this caller inserted it (rowcount is not
    reliable for ON CONFLICT DO NOTHING across drivers)."""
    stmt = (
        dialect_insert(conn, slot_claims)
        .values(slot=slot, owner=owner[:200], claimed_at=now)
        .on_conflict_do_nothing(index_elements=["slot"])
        .returning(slot_claims.c.slot)
    )
    return conn.execute(stmt).first() is not None
