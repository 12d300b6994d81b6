"""The upgrade to schema version 3: every run document and inventory snapshot stored whole
(schema version 2) becomes a manifest and shared chunks (:mod:`auditor.state.blobs`).

One value at a time (a run document of many megabytes is never held twice). A value that cannot
be read is left as it is, with a warning naming its row: reading it later reports the damage as
before, and the store still opens.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditor.state import codec
from auditor.state.schema import runs, tenant_runs

log = logging.getLogger("auditor.state")
_UNREADABLE = (ValueError, KeyError, TypeError, zlib.error, StopIteration)


def to_blobs(conn: Connection) -> None:
    ids = list(conn.execute(
        sa.select(runs.c.id).where(runs.c.document.is_not(None)).order_by(runs.c.id)
    ).scalars())
    for run_id in ids:
        value = conn.execute(sa.select(runs.c.document).where(runs.c.id == run_id)).scalar()
        if value is None or value.startswith(codec.DOCUMENT):
            continue
        try:
            result = codec.read_legacy_result(value)
        except _UNREADABLE:
            log.warning("state: runs row %r: document cannot be read; left as it is", run_id)
            continue
        writer = codec.DocumentWriter(result)
        for finding in result.findings:
            writer.add_finding(finding)
        manifest = codec.store_document(conn, run_id, writer.finish())
        conn.execute(sa.update(runs).where(runs.c.id == run_id).values(document=manifest))
    keys = conn.execute(
        sa.select(tenant_runs.c.run_id, tenant_runs.c.tenant)
        .where(tenant_runs.c.inventory.is_not(None))
        .order_by(tenant_runs.c.run_id, tenant_runs.c.tenant)
    ).all()
    for run_id, tenant in keys:
        where = (tenant_runs.c.run_id == run_id) & (tenant_runs.c.tenant == tenant)
        value = conn.execute(sa.select(tenant_runs.c.inventory).where(where)).scalar()
        if value is None or value.startswith(codec.INVENTORY):
            continue
        try:
            inventory = codec.unpack_legacy_inventory(value)
        except _UNREADABLE:
            log.warning("state: tenant_runs row (%r, %r): inventory cannot be read; left as it "
                        "is", run_id, tenant)
            continue
        manifest = codec.store_inventory(conn, run_id, inventory)
        conn.execute(sa.update(tenant_runs).where(where).values(inventory=manifest))


CONVERSIONS: dict[int, Callable[[Connection], None]] = {3: to_blobs}
"""Schema version -> what converts the stored values once its migration has run."""
