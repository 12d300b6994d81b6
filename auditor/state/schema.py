"""The tables of the state store, and the versioned migrations that create and upgrade them.

``MIGRATIONS[i]`` upgrades a store from schema version ``i`` to ``i + 1`` (version 0 is an empty
database). A migration adds tables, columns, indexes; the stored values it changes the form of
are converted after it (:data:`auditor.state.convert.CONVERSIONS`: version 3 stores the run
documents and inventory snapshots as manifests and shared chunks, :mod:`auditor.state.blobs`).
Each one runs inside the single upgrade transaction of :func:`auditor.state.migrate.migrate`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

metadata = sa.MetaData()


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (naive UTC in SQLite, timestamptz in PostgreSQL)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("upgraded_at", UTCDateTime, nullable=False),
)

# One audit. ``document`` is the manifest of its findings.json (codec.py: what differs every
# night, and the list of its chunks in ``blobs``); it is NULL while the run is "running" and for
# a run that was "interrupted".
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("started_at", UTCDateTime, nullable=False, index=True),
    sa.Column("finished_at", UTCDateTime),
    sa.Column(
        "status", sa.String(16), nullable=False
    ),  # complete|incomplete|failed|running|interrupted
    sa.Column("tool_version", sa.String(32), nullable=False),
    sa.Column("failing", sa.Integer, nullable=False, default=0),
    sa.Column("unknown", sa.Integer, nullable=False, default=0),
    sa.Column("muted", sa.Integer, nullable=False, default=0),
    sa.Column("new", sa.Integer, nullable=False, default=0),
    sa.Column("resolved", sa.Integer, nullable=False, default=0),
    sa.Column("by_severity", sa.Text, nullable=False, default="{}"),
    sa.Column("document", sa.LargeBinary),
)

# One tenant in one run; ``inventory`` is the manifest of the normalized snapshot (ok tenants
# only; its chunks are in ``blobs``).
tenant_runs = sa.Table(
    "tenant_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(8), nullable=False),  # ok|error
    sa.Column("error", sa.Text),
    sa.Column("counts", sa.Text, nullable=False, default="{}"),
    sa.Column("failing", sa.Integer, nullable=False, default=0),
    sa.Column("unknown", sa.Integer, nullable=False, default=0),
    sa.Column("muted", sa.Integer, nullable=False, default=0),
    sa.Column("new", sa.Integer, nullable=False, default=0),
    sa.Column("resolved", sa.Integer, nullable=False, default=0),
    sa.Column("collected_at", UTCDateTime),
    sa.Column("inventory", sa.LargeBinary),
    sa.Index("ix_tenant_runs_tenant", "tenant", "status"),
)

# What the rules need of a tenant's past, kept beyond run retention.
tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("first_complete_audit_at", UTCDateTime, nullable=False),
    sa.Column("last_complete_audit_at", UTCDateTime, nullable=False),
    sa.Column("last_complete_run_id", sa.String(64), nullable=False),
)

# The environments of the tenant's last complete audit, with the time a complete audit first
# listed each (since it was last absent).
environments_seen = sa.Table(
    "environments_seen",
    metadata,
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("first_seen", UTCDateTime, nullable=False),
)

# The current state of each finding ever reported (one row per tenant + fingerprint).
# ``status``: the status in the last audit that listed it (fail|unknown|muted), or "resolved".
# ``data``: the finding as findings.json lists it, to report it once more when it is resolved;
# ``data_hash`` lets an unchanged finding skip its rewrite.
findings = sa.Table(
    "findings",
    metadata,
    sa.Column("tenant", sa.String(200), primary_key=True),
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    sa.Column("rule_id", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("lifecycle", sa.String(16), nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("last_run_id", sa.String(64), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("data_hash", sa.String(32), nullable=False),
    sa.Index("ix_findings_tenant_status", "tenant", "status"),
)

# Schema version 2: Slack delivery outbox and scheduler slot claims.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("destination", sa.String(200), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("state", sa.String(8), nullable=False, default="pending"),  # pending|sent
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
)

slot_claims = sa.Table(
    "slot_claims",
    metadata,
    sa.Column("slot", sa.String(200), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
)

# Schema version 3: content-addressed chunks of run documents and snapshots (blobs.py). ``hash``
# is the sha256 of the chunk's bytes, ``data`` those bytes zlib-compressed; ``blob_refs`` lists
# the chunks each run uses (its document's and its tenants' snapshots').
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

blob_refs = sa.Table(
    "blob_refs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("hash", sa.String(64), primary_key=True),
    sa.Index("ix_blob_refs_hash", "hash"),
)

_V1 = ("runs", "tenant_runs", "tenants", "environments_seen", "findings")
_V2 = ("outbox", "slot_claims")
_V3 = ("blobs", "blob_refs")


def _create(names: tuple[str, ...]) -> Callable[[Connection], None]:
    def migration(conn: Connection) -> None:
        for name in names:
            metadata.tables[name].create(conn)

    migration.__doc__ = f"create {', '.join(names)}"
    return migration


MIGRATIONS: list[Callable[[Connection], Any]] = [_create(_V1), _create(_V2), _create(_V3)]
SCHEMA_VERSION = len(MIGRATIONS)
