"""Writing one run: lifecycle, finding states, tenant snapshots, the run document, retention.

Everything happens in the caller's single transaction: a run is stored whole or not at all (a
process killed midway leaves the store as it was). All writes are bulk statements, no per-finding
round trips.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditor.engine.findings import Finding
from auditor.result import RunResult
from auditor.state import blobs, codec, queries, states
from auditor.state.errors import StoreError
from auditor.state.schema import (
    environments_seen,
    findings,
    outbox,
    runs,
    slot_claims,
    tenant_runs,
    tenants,
)

_IN_CHUNK = 500


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """The backend's INSERT construct (both have ON CONFLICT)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def upsert(conn: Connection, table: sa.Table, keys: list[str]) -> Any:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET every other column (executemany-ready)."""
    stmt = dialect_insert(conn, table)
    cols = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
    return stmt.on_conflict_do_update(index_elements=keys, set_=cols)


def write_tenants(conn: Connection, result: RunResult) -> None:
    """tenant_runs rows; for complete tenant audits also the snapshot, environments, tenants."""
    per: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        per[f.tenant].append(f)
    rows = []
    for t in result.tenants:
        items = per.get(t.name, [])
        status = Counter(f.status for f in items)
        inventory = result.inventories.get(t.name) if t.status == "ok" else None
        rows.append(
            {
                "run_id": result.run_id,
                "tenant": t.name,
                "status": t.status,
                "error": t.error,
                "counts": json.dumps(t.counts),
                "failing": status.get("fail", 0),
                "unknown": status.get("unknown", 0),
                "muted": status.get("muted", 0),
                "new": sum(1 for f in items if f.lifecycle == "new" and f.status != "resolved"),
                "resolved": status.get("resolved", 0),
                "collected_at": inventory.collected_at if inventory else None,
                "inventory": codec.store_inventory(conn, result.run_id, inventory)
                if inventory else None,
            }
        )
        if inventory is not None:
            _remember_environments(
                conn, t.name, [e.name for e in inventory.environments], inventory.collected_at
            )
            conn.execute(
                upsert(conn, tenants, ["name"]).values(
                    name=t.name,
                    first_complete_audit_at=_first_audit(conn, t.name) or inventory.collected_at,
                    last_complete_audit_at=inventory.collected_at,
                    last_complete_run_id=result.run_id,
                )
            )
    if rows:
        conn.execute(sa.insert(tenant_runs), rows)


def _first_audit(conn: Connection, tenant: str) -> datetime | None:
    return conn.execute(
        sa.select(tenants.c.first_complete_audit_at).where(tenants.c.name == tenant)
    ).scalar()


def _remember_environments(conn: Connection, tenant: str, names: list[str], at: datetime) -> None:
    """Keep the current environments, each with the first complete audit that listed it since
    it was last absent (an environment deleted and created again is new again)."""
    known = set(
        conn.execute(
            sa.select(environments_seen.c.name).where(environments_seen.c.tenant == tenant)
        ).scalars()
    )
    current = set(names)
    gone = sorted(known - current)
    for chunk in _chunks(gone, _IN_CHUNK):
        conn.execute(
            sa.delete(environments_seen).where(
                environments_seen.c.tenant == tenant, environments_seen.c.name.in_(chunk)
            )
        )
    added = [{"tenant": tenant, "name": n, "first_seen": at} for n in sorted(current - known)]
    if added:
        conn.execute(sa.insert(environments_seen), added)


def write_run(conn: Connection, result: RunResult, document: bytes, existing: str | None) -> None:
    summary = result.summary()
    values = {
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "status": result.status,
        "tool_version": result.tool_version,
        "failing": summary["failing"],
        "unknown": summary["unknown"],
        "muted": summary["muted"],
        "new": summary["new"],
        "resolved": summary["resolved"],
        "by_severity": json.dumps(summary["by_severity"]),
        "document": codec.store_document(conn, result.run_id, document),
    }
    if existing is None:
        conn.execute(sa.insert(runs).values(id=result.run_id, **values))
    else:
        conn.execute(sa.update(runs).where(runs.c.id == result.run_id).values(**values))


def prune(conn: Connection, now: datetime, retention_days: int, current: str) -> int:
    """Drop runs older than the retention, except the last complete audit of each tenant."""
    cutoff = now - timedelta(days=retention_days)
    keep = sa.select(tenants.c.last_complete_run_id)
    old = list(
        conn.execute(
            sa.select(runs.c.id).where(
                runs.c.started_at < cutoff, runs.c.id.not_in(keep), runs.c.id != current
            )
        ).scalars()
    )
    for chunk in _chunks(old, _IN_CHUNK):
        conn.execute(sa.delete(tenant_runs).where(tenant_runs.c.run_id.in_(chunk)))
        conn.execute(sa.delete(runs).where(runs.c.id.in_(chunk)))
        blobs.release(conn, chunk)  # the chunks no run lists any more
    # Resolved finding states past the retention are forgotten (a recurrence is new again); the
    # listed ones stay, like the tenant's last complete audit they belong to.
    conn.execute(
        sa.delete(findings).where(findings.c.status == "resolved", findings.c.resolved_at < cutoff)
    )
    conn.execute(sa.delete(outbox).where(outbox.c.created_at < cutoff))
    conn.execute(sa.delete(slot_claims).where(slot_claims.c.claimed_at < cutoff))
    return len(old)


def add_notes(conn: Connection, run_id: str, notes: list[str]) -> RunResult:
    """Add ``notes`` to the stored document of run ``run_id`` (e.g. the Slack delivery failed
    after the run was recorded); returns the stored run as it now is."""
    stored = queries.load_run(conn, run_id)
    noted = dataclasses.replace(stored, notes=[*stored.notes, *notes])
    writer = codec.DocumentWriter(noted)
    for finding in noted.findings:
        writer.add_finding(finding)
    conn.execute(sa.update(runs).where(runs.c.id == run_id).values(
        document=codec.store_document(conn, run_id, writer.finish())))
    return noted


def record(conn: Connection, result: RunResult, retention_days: int,
           plan: states.Plan | None = None) -> None:
    """Store the run as given; ``plan``: its lifecycle, already applied (Store.plan_run: then
    ``result`` is ``plan.result``, or a copy of it with other notes)."""
    existing = conn.execute(sa.select(runs.c.status).where(runs.c.id == result.run_id)).scalar()
    if existing is not None and existing != "running":
        raise StoreError(f"state: run {result.run_id} is already stored ({existing})")
    if plan is None:
        plan = states.apply_lifecycle(conn, result)
    document = states.write_states(conn, result, plan)
    write_tenants(conn, result)
    write_run(conn, result, document, existing)
    prune(conn, result.started_at, retention_days, result.run_id)
