"""Reading the store: tenant history for the rules, recent runs, a stored run back."""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditor.engine.history import TenantHistory
from auditor.result import RunPoint, RunResult
from auditor.soar.models import Inventory
from auditor.state import blobs, codec
from auditor.state.errors import RunNotFound, StoreError
from auditor.state.rows import BadRow, left_out, raw, read_json, read_time
from auditor.state.schema import environments_seen, runs, tenant_runs, tenants
from auditor.vocab import LEFT_STATUSES

FINISHED = ("complete", "incomplete", "failed")


@dataclass(frozen=True, slots=True)
class TenantSummary:
    name: str
    status: str  # ok | error
    error: str | None
    counts: dict[str, int]
    failing: int
    unknown: int
    muted: int
    new: int
    resolved: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One stored run as `soar-auditor history` shows it."""

    run_id: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # complete | incomplete | failed | running | interrupted
    tool_version: str
    failing: int
    unknown: int
    muted: int
    new: int
    resolved: int
    by_severity: dict[str, int]
    tenants: list[TenantSummary] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from auditor.result import iso

        return {
            "id": self.run_id,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "status": self.status,
            "tool_version": self.tool_version,
            "failing": self.failing,
            "unknown": self.unknown,
            "muted": self.muted,
            "new": self.new,
            "resolved": self.resolved,
            "by_severity": self.by_severity,
            "tenants": [t.to_dict() for t in self.tenants],
        }


def _loader(conn: Connection) -> codec.Load:
    def load(digests: list[str], where: str) -> Iterator[bytes]:
        return blobs.fetch(conn, digests, where)

    return load


def _snapshot(conn: Connection, value: bytes, run_id: str, tenant: str) -> Inventory:
    return codec.unpack_inventory(value, _loader(conn),
                                  f"snapshot of tenant {tenant!r} in run {run_id!r}")


def tenant_history(conn: Connection, tenant: str) -> TenantHistory:
    row = conn.execute(
        sa.select(
            raw(tenants.c.first_complete_audit_at),
            raw(tenants.c.last_complete_audit_at),
            tenants.c.last_complete_run_id,
        ).where(tenants.c.name == tenant)
    ).first()
    if row is None:
        return TenantHistory()
    where = f"tenants row {tenant!r}"
    first_at = read_time(row[0], where, "first_complete_audit_at")
    last_at = read_time(row[1], where, "last_complete_audit_at")
    run_id = row[2]
    assert first_at is not None and last_at is not None
    blob = conn.execute(
        sa.select(tenant_runs.c.inventory).where(
            tenant_runs.c.run_id == run_id, tenant_runs.c.tenant == tenant
        )
    ).scalar()
    if blob is None:
        raise StoreError(f"state: the snapshot of tenant {tenant!r} (run {run_id}) is missing")
    env_rows = [
        (name, read_time(seen, f"environments_seen row ({tenant!r}, {name!r})", "first_seen"))
        for name, seen in conn.execute(
            sa.select(environments_seen.c.name, raw(environments_seen.c.first_seen)).where(
                environments_seen.c.tenant == tenant
            )
        )
    ]
    previous = _snapshot(conn, blob, run_id, tenant)
    mapping_first_seen, mapping_first_seen_by = _mapping_first_seen(
        conn, tenant, previous, run_id, first_at
    )
    return TenantHistory(
        previous_inventory=previous,
        previous_audit_at=last_at,
        first_complete_audit_at=first_at,
        env_first_seen={name: seen for name, seen in env_rows if seen is not None},
        mapping_first_seen=mapping_first_seen,
        mapping_first_seen_by=mapping_first_seen_by,
    )


def _mapping_first_seen(
    conn: Connection, tenant: str, previous: Inventory, last_run_id: str, first_at: datetime
) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """When each Group Mapping entry of the last complete audit was first listed, since it was
    last absent (or Group Mapping was last not read): walks the stored complete audits of the
    tenant from the newest back, and stops as soon as every entry's start is found. An entry
    listed by the oldest stored audit was first seen then when that is the tenant's first
    complete audit; else its first listing was pruned, and that time is only an upper bound
    (second map)."""
    if "chronicle" not in previous.surfaces or not previous.mappings:
        return {}, {}
    alive = {m.name for m in previous.mappings}
    exact: dict[str, datetime] = {}
    rows = conn.execute(
        sa.select(tenant_runs.c.run_id, raw(tenant_runs.c.collected_at), tenant_runs.c.counts)
        .where(tenant_runs.c.tenant == tenant, tenant_runs.c.status == "ok",
               tenant_runs.c.inventory.is_not(None))
        .order_by(tenant_runs.c.collected_at.desc())
    ).all()
    newer: datetime | None = None  # the audit after the one looked at (all entries listed)
    for run_id, stored_at, counts in rows:
        where = f"tenant_runs row ({run_id!r}, {tenant!r})"
        collected_at = read_time(stored_at, where, "collected_at")
        assert collected_at is not None
        listed: set[str] = set()
        if run_id == last_run_id:
            listed = alive
        elif (read_json(counts or "{}", where, "counts") or {}).get("idp_mappings"):
            older = conn.execute(
                sa.select(tenant_runs.c.inventory).where(
                    tenant_runs.c.run_id == run_id, tenant_runs.c.tenant == tenant)
            ).scalar()
            if older is not None:
                listed = {m.name for m in _snapshot(conn, older, run_id, tenant).mappings}
        if newer is not None:
            for name in alive - listed:
                exact[name] = newer
        alive &= listed
        newer = collected_at
        if not alive:
            return exact, {}
    if newer is None:  # pragma: no cover - the last complete audit is always stored
        return exact, {}
    if newer <= first_at:  # the oldest stored audit is the tenant's first complete audit
        return {**exact, **dict.fromkeys(alive, newer)}, {}
    return exact, dict.fromkeys(alive, newer)


def _run_filter(query: Any, until: datetime | None, include_unfinished: bool) -> Any:
    if not include_unfinished:
        query = query.where(runs.c.status.in_(FINISHED))
    if until is not None:
        query = query.where(runs.c.started_at <= until)
    return query


# SOAR-MIG-001 findings in a stored run document: the line of a finding starts with its id,
# then its rule id, exactly so (codec.dumps of Finding.to_dict); a string value holding the same
# text is JSON-escaped (\"), so only a finding's own rule_id matches, and the first
# ``,"status":"`` after it is the finding's own status (title and severity come before it).
_LEGACY_RULE = "SOAR-MIG-001"
_LEGACY_MARK = b'","rule_id":"SOAR-MIG-001",'
_LEGACY_STATUS = re.compile(rb',"status":"([a-z]*)"')
_LEGACY_LEFT = tuple(s.encode() for s in LEFT_STATUSES)


def _left(line: bytes) -> bool:
    status = _LEGACY_STATUS.search(line)
    return status is not None and status.group(1) in _LEGACY_LEFT


def _chunk_legacy(data: bytes) -> int:
    if _LEGACY_MARK not in data:
        return 0
    return sum(1 for line in data.split(b"\n")
               if _LEGACY_MARK in line and _left(line))


def _legacy_keys(conn: Connection, value: bytes | None, seen: dict[str, Any]) -> int | None:
    """Legacy API keys left in a stored run: its SOAR-MIG-001 findings that are failing, unknown
    or muted. None when the run has no (readable) document or did not evaluate the rule. Reads
    each chunk once for all runs listed (``seen``: by sha256, the header or the count)."""
    if value is None:
        return None
    try:
        digests = list(codec.read_manifest(codec.DOCUMENT, value)["chunks"])
        count = 0
        for i, digest in enumerate(digests):
            if digest not in seen:
                data = next(blobs.fetch(conn, [digest], "the trend"))
                seen[digest] = codec.json_head(data) if i == 0 else _chunk_legacy(data)
            if i:
                count += seen[digest]
        header = seen[digests[0]]
    except (BadRow, ValueError, KeyError, IndexError, TypeError, zlib.error):
        return None  # the trend lacks this point; load_run reports the damage itself
    checks = header.get("checks") if isinstance(header, dict) else None
    return count if count or _LEGACY_RULE in (checks or {}) else None


def run_points(
    conn: Connection, limit: int, until: datetime | None, include_unfinished: bool
) -> list[RunPoint]:
    query = sa.select(
        runs.c.id,
        raw(runs.c.started_at),
        runs.c.status,
        runs.c.failing,
        runs.c.by_severity,
        runs.c.new,
        runs.c.resolved,
    )
    query = _run_filter(query, until, include_unfinished)
    if not include_unfinished:  # a run whose outputs could not be written: no results
        query = query.where(sa.not_((runs.c.status == "failed") & runs.c.document.is_(None)))
    rows = conn.execute(
        query.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit)
    ).all()
    document = sa.select(runs.c.document).where(runs.c.id == sa.bindparam("run_id"))
    points: list[RunPoint] = []
    seen: dict[str, Any] = {}
    for i, s, st, f, b, n, r in rows:
        try:
            started = read_time(s, f"runs row {i!r}", "started_at")
            by_severity = read_json(b, f"runs row {i!r}", "by_severity")
        except BadRow as exc:
            left_out(exc, "the run is left out of the trend")
            continue
        assert started is not None
        points.append(RunPoint(
            run_id=i,
            started_at=started,
            status=st,
            failing=f,
            by_severity=by_severity if isinstance(by_severity, dict) else {},
            new=n,
            resolved=r,
            legacy_keys=_legacy_keys(conn, conn.execute(document, {"run_id": i}).scalar(), seen),
        ))
    return points


def run_summaries(
    conn: Connection, limit: int, include_unfinished: bool = True
) -> list[RunSummary]:
    query = sa.select(
        runs.c.id,
        raw(runs.c.started_at),
        raw(runs.c.finished_at),
        runs.c.status,
        runs.c.tool_version,
        runs.c.failing,
        runs.c.unknown,
        runs.c.muted,
        runs.c.new,
        runs.c.resolved,
        runs.c.by_severity,
    )
    query = _run_filter(query, None, include_unfinished)
    rows = list(
        conn.execute(query.order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit))
    )
    ids = [r[0] for r in rows]
    per: dict[str, list[TenantSummary]] = {i: [] for i in ids}
    if ids:
        trows = conn.execute(
            sa.select(
                tenant_runs.c.run_id,
                tenant_runs.c.tenant,
                tenant_runs.c.status,
                tenant_runs.c.error,
                tenant_runs.c.counts,
                tenant_runs.c.failing,
                tenant_runs.c.unknown,
                tenant_runs.c.muted,
                tenant_runs.c.new,
                tenant_runs.c.resolved,
            )
            .where(tenant_runs.c.run_id.in_(ids))
            .order_by(tenant_runs.c.tenant)
        )
        for rid, name, st, err, counts, fa, un, mu, nw, rs in trows:
            try:
                parsed = read_json(counts, f"tenant_runs row ({rid!r}, {name!r})", "counts")
            except BadRow as exc:
                left_out(exc, "its counts are not shown")
                parsed = {}
            per[rid].append(TenantSummary(name, st, err, parsed if isinstance(parsed, dict)
                                          else {}, fa, un, mu, nw, rs))
    out: list[RunSummary] = []
    for i, s, fin, st, tv, fa, un, mu, nw, rs, bs in rows:
        where = f"runs row {i!r}"
        try:
            started = read_time(s, where, "started_at")
            finished = read_time(fin, where, "finished_at", nullable=True)
            by_severity = read_json(bs, where, "by_severity")
        except BadRow as exc:
            left_out(exc, "the run is left out of the history")
            continue
        assert started is not None
        out.append(RunSummary(i, started, finished, st, tv, fa, un, mu, nw, rs,
                              by_severity if isinstance(by_severity, dict) else {}, per[i]))
    return out


def latest_run_id(conn: Connection) -> str:
    run_id = conn.execute(
        sa.select(runs.c.id)
        .where(runs.c.document.is_not(None))
        .order_by(runs.c.started_at.desc(), runs.c.id.desc())
        .limit(1)
    ).scalar()
    if run_id is None:
        raise RunNotFound("state: the store holds no finished run yet")
    return str(run_id)


def load_run(conn: Connection, run_id: str) -> RunResult:
    if run_id == "latest":
        run_id = latest_run_id(conn)
    row = conn.execute(sa.select(runs.c.status, runs.c.document).where(runs.c.id == run_id)).first()
    if row is None:
        raise RunNotFound(f"state: no stored run has the id {run_id!r}")
    status, blob = row
    if blob is None:
        raise StoreError(f"state: run {run_id} is {status}; it has no stored results")
    inventories: dict[str, Inventory] = {}
    for tenant, inv in conn.execute(
        sa.select(tenant_runs.c.tenant, tenant_runs.c.inventory).where(
            tenant_runs.c.run_id == run_id, tenant_runs.c.inventory.is_not(None)
        )
    ):
        inventories[tenant] = _snapshot(conn, inv, run_id, tenant)
    return codec.read_result(blob, _loader(conn), inventories, f"run {run_id!r}")


def last_time(conn: Connection, column: sa.Column[Any], status: str | None) -> datetime | None:
    """The newest value of a time column of ``runs`` (of runs with ``status``); a damaged value
    is left out with a warning."""
    query = sa.select(runs.c.id, raw(column)).where(column.is_not(None))
    if status is not None:
        query = query.where(runs.c.status == status)
    latest: datetime | None = None
    for run_id, value in conn.execute(query):
        try:
            moment = read_time(value, f"runs row {run_id!r}", column.name)
        except BadRow as exc:
            left_out(exc, "the run is not counted")
            continue
        if moment is not None and (latest is None or moment > latest):
            latest = moment
    return latest
