"""Create or upgrade the schema, in one transaction, with the other openers of the store kept out.

A store at an older version is upgraded by running the missing migrations in order; a store at a
newer version than this code knows is refused (an older auditor must not write into it).
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from auditor.clock import SYSTEM_CLOCK, Clock
from auditor.state import schema
from auditor.state.blobs import LOCK_CLASS_RECORD as LOCK_CLASS_RECORD
from auditor.state.convert import CONVERSIONS
from auditor.state.errors import StoreError

log = logging.getLogger("auditor.state")

# Advisory-lock class ids (PostgreSQL); the second key is the hash of the current schema (for a
# scope: of the schema and the scope). Each lock has a class of its own, so that no two locks of
# one store can ever share a key (one process holds several of them at once).
LOCK_CLASS_AUDIT = 0x50A7  # the whole store: exclusive for an audit, shared for each shard's audit
LOCK_CLASS_MIGRATE = 0x50A8  # schema upgrades (transaction-level)
LOCK_CLASS_AUDIT_SCOPE = 0x50A9  # one shard ("shard0of4"): exclusive
LOCK_CLASS_OUTBOX = 0x50AA  # delivering the Slack outbox: exclusive
# LOCK_CLASS_RECORD = 0x50AB: writing a run (transaction-level), one at a time like SQLite;
# defined with the chunk store (blobs.py), whose writers take it too.


def current_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table(schema.schema_version.name):
        return 0
    value = conn.execute(
        sa.select(schema.schema_version.c.version).where(schema.schema_version.c.id == 1)
    ).scalar()
    return int(value or 0)


def migrate(engine: Engine, where: str, target: int = schema.SCHEMA_VERSION, *,
            clock: Clock = SYSTEM_CLOCK) -> int:
    """Bring the store to ``target`` (the newest version by default); returns the old version.
    ``upgraded_at`` is ``clock``'s time."""
    with engine.connect() as conn:
        conn = conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k, hashtext(current_schema()))"),
                    {"k": LOCK_CLASS_MIGRATE},
                )
            version = current_version(conn)
            if version > target:
                raise StoreError(
                    f"state: {where} has schema version {version}, newer than this soar-auditor "
                    f"understands (up to {target}); upgrade soar-auditor, or point `state:` at "
                    "another store"
                )
            if version == target:
                return version
            if version == 0:
                schema.schema_version.create(conn, checkfirst=True)
            for step in range(version, target):
                log.info("state: upgrading %s to schema version %d", where, step + 1)
                schema.MIGRATIONS[step](conn)
                convert = CONVERSIONS.get(step + 1)
                if convert is not None:  # the stored values in the form of the new version
                    convert(conn)
            now: datetime = clock.now()
            if version == 0:
                conn.execute(
                    sa.insert(schema.schema_version).values(id=1, version=target, upgraded_at=now)
                )
            else:
                conn.execute(
                    sa.update(schema.schema_version)
                    .where(schema.schema_version.c.id == 1)
                    .values(version=target, upgraded_at=now)
                )
            return version
