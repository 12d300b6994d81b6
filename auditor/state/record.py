"""Writing one run: lifecycle, finding states, tenant snapshots, the run document, retention.

Everything happens in the caller's single transaction: a run is stored whole or not at all (a
process killed midway leaves the store as it was). All writes are bulk statements, no per-finding
round trips.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditor.engine.findings import Finding
from auditor.result import RunResult
from auditor.state import codec, lifecycle
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

_BATCH = 5000
_IN_CHUNK = 500


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


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _stored_states(conn: Connection, tenant: str) -> dict[str, lifecycle.Stored]:
    rows = conn.execute(
        sa.select(findings.c.fingerprint, findings.c.status, findings.c.first_seen).where(
            findings.c.tenant == tenant
        )
    )
    return {fp: lifecycle.Stored(status, first) for fp, status, first in rows}


def _resolve(conn: Connection, result: RunResult, tenant: str, fps: list[str]) -> list[Finding]:
    inventory = result.inventories.get(tenant)
    key_ids = {k.id for k in inventory.api_keys} if inventory is not None else None
    out: list[Finding] = []
    for chunk in _chunks(sorted(fps), _IN_CHUNK):
        rows = conn.execute(
            sa.select(findings.c.data, findings.c.status, findings.c.last_seen).where(
                findings.c.tenant == tenant, findings.c.fingerprint.in_(chunk)
            )
        )
        out.extend(lifecycle.resolved_finding(d, s, seen, key_ids) for d, s, seen in rows)
    return out


def apply_lifecycle(conn: Connection, result: RunResult) -> dict[str, list[str]]:
    """Set lifecycle/first_seen in place, append the resolved findings; returns what resolves."""
    by_tenant: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        if f.status != "resolved":
            by_tenant[f.tenant].append(f)
    ok = {t.name for t in result.tenants if t.status == "ok"}
    names = [t.name for t in result.tenants] + [n for n in by_tenant if n not in ok]
    newly_resolved: dict[str, list[str]] = {}
    already = {(f.tenant, f.id) for f in result.findings if f.status == "resolved"}
    for tenant in dict.fromkeys(names):
        listed = by_tenant.get(tenant, [])
        stored = _stored_states(conn, tenant)
        lifecycle.assign(listed, stored, result.started_at)
        if tenant not in ok:
            continue  # a tenant not audited in full resolves nothing
        if tenant not in result.inventories:
            raise StoreError(f"state: tenant {tenant!r} is ok but the run carries no inventory")
        fps = lifecycle.to_resolve(stored, {f.id for f in listed})
        fps = [fp for fp in fps if (tenant, fp) not in already]
        newly_resolved[tenant] = fps
        result.findings.extend(_resolve(conn, result, tenant, fps))
    return newly_resolved


def write_findings(conn: Connection, result: RunResult, newly: dict[str, list[str]]) -> bytes:
    """Upsert the listed findings' states, mark the resolved ones; returns the run document."""
    now = result.started_at
    writer = codec.DocumentWriter(result)
    stmt = upsert(conn, findings, ["tenant", "fingerprint"])
    batch: dict[tuple[str, str], dict[str, Any]] = {}
    for f in result.findings:
        line = writer.add_finding(f)
        if f.status == "resolved":
            continue
        batch[(f.tenant, f.id)] = {
            "tenant": f.tenant,
            "fingerprint": f.id,
            "rule_id": f.rule_id,
            "status": f.status,
            "lifecycle": f.lifecycle,
            "first_seen": f.first_seen or now,
            "last_seen": now,
            "resolved_at": None,
            "last_run_id": result.run_id,
            "data": line,
        }
        if len(batch) >= _BATCH:
            conn.execute(stmt, list(batch.values()))
            batch.clear()
    if batch:
        conn.execute(stmt, list(batch.values()))
    resolved_rows = [{"t": tenant, "fp": fp} for tenant, fps in newly.items() for fp in fps]
    if resolved_rows:
        conn.execute(
            sa.update(findings)
            .where(
                findings.c.tenant == sa.bindparam("t"), findings.c.fingerprint == sa.bindparam("fp")
            )
            .values(
                status="resolved", lifecycle="resolved", resolved_at=now, last_run_id=result.run_id
            ),
            resolved_rows,
        )
    return writer.finish()


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
                "inventory": codec.pack_inventory(inventory) if inventory else None,
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
        "document": document,
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
    conn.execute(
        sa.delete(findings).where(findings.c.status == "resolved", findings.c.resolved_at < cutoff)
    )
    conn.execute(sa.delete(outbox).where(outbox.c.created_at < cutoff))
    conn.execute(sa.delete(slot_claims).where(slot_claims.c.claimed_at < cutoff))
    return len(old)


def record(conn: Connection, result: RunResult, retention_days: int) -> None:
    existing = conn.execute(sa.select(runs.c.status).where(runs.c.id == result.run_id)).scalar()
    if existing is not None and existing != "running":
        raise StoreError(f"state: run {result.run_id} is already stored ({existing})")
    newly = apply_lifecycle(conn, result)
    document = write_findings(conn, result, newly)
    write_tenants(conn, result)
    write_run(conn, result, document, existing)
    prune(conn, result.started_at, retention_days, result.run_id)
