"""Finding states in bulk: read them per tenant, apply the lifecycle, write back what changed.

Hot path for large tenants (300,000 findings): the finding ids are computed once, stored rows are
read with plain driver cursors, and rows are written with driver-level executemany; a finding
whose findings.json entry is unchanged is not rewritten (one set-based UPDATE moves the
``last_seen`` of every still-listed finding of a complete tenant audit).
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditor.engine.findings import Finding
from auditor.result import RunResult
from auditor.state import codec, lifecycle
from auditor.state.errors import StoreError
from auditor.state.schema import UTCDateTime, findings

_BATCH = 5000
_IN_CHUNK = 500
# Column order of the rows that write_states builds.
_UPSERT = (
    "INSERT INTO findings (tenant, fingerprint, rule_id, status, lifecycle, first_seen, last_seen,"
    " resolved_at, last_run_id, data, data_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (tenant, fingerprint) DO UPDATE SET rule_id = excluded.rule_id,"
    " status = excluded.status, lifecycle = excluded.lifecycle, first_seen = excluded.first_seen,"
    " last_seen = excluded.last_seen, resolved_at = excluded.resolved_at,"
    " last_run_id = excluded.last_run_id, data = excluded.data, data_hash = excluded.data_hash"
)


@dataclass(slots=True)
class Plan:
    """What record_run computed before writing: per tenant the stored states and the resolutions;
    of :func:`plan_lifecycle`, also ``result``: the run as it is to be written and stored."""

    ids: dict[int, str] = field(default_factory=dict)  # id(finding) -> fingerprint
    stored: dict[str, dict[str, lifecycle.Stored]] = field(default_factory=dict)
    resolved: dict[str, list[str]] = field(default_factory=dict)  # complete tenants only
    result: RunResult | None = None

    def fid(self, finding: Finding) -> str:
        value = self.ids.get(id(finding))
        if value is None:
            value = self.ids[id(finding)] = finding.id
        return value


def _sql(conn: Connection, text: str) -> str:
    return text.replace("?", "%s") if conn.dialect.paramstyle in ("format", "pyformat") else text


def _datetimes(conn: Connection, direction: str) -> Callable[[Any], Any]:
    """Memoized UTCDateTime conversion for driver-level statements (values repeat a lot)."""
    typ = UTCDateTime().dialect_impl(conn.dialect)
    proc = (
        typ.bind_processor(conn.dialect)
        if direction == "bind"
        else typ.result_processor(conn.dialect, None)
    )
    cache: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        if value is None or proc is None:
            return value
        out = cache.get(value)
        if out is None:
            out = cache[value] = proc(value)
        return out

    return convert


def _stored_states(conn: Connection, tenant: str) -> dict[str, lifecycle.Stored]:
    load = _datetimes(conn, "result")
    cur = conn.exec_driver_sql(
        _sql(
            conn, "SELECT fingerprint, status, first_seen, data_hash FROM findings WHERE tenant = ?"
        ),
        (tenant,),
    )
    return {fp: lifecycle.Stored(st, load(first), h) for fp, st, first, h in cur}


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


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(Finding) if f.init))


def _copy(finding: Finding) -> Finding:
    """A new Finding equal to ``finding`` (5x faster than dataclasses.replace: 300,000 findings
    are copied by every audit of a large tenant)."""
    return Finding(*_FIELDS(finding))


def plan_lifecycle(conn: Connection, result: RunResult) -> Plan:
    """The run with its lifecycle: ``plan.result`` is a new RunResult whose findings are new
    values with lifecycle and first_seen set, the resolved ones added, in the document order,
    the summary counted (RunResult.counted). ``result`` is not changed."""
    findings = [f if f.status == "resolved" else _copy(f) for f in result.findings]
    planned = dataclasses.replace(result, findings=findings)
    plan = apply_lifecycle(conn, planned)
    plan.result = planned.counted()
    return plan


def apply_lifecycle(conn: Connection, result: RunResult) -> Plan:
    """Set lifecycle/first_seen in place and append the resolved findings to ``result`` (what
    :meth:`Store.record_run` does to a run recorded without a plan; :func:`plan_lifecycle`
    changes nothing it is given)."""
    plan = Plan()
    by_tenant: dict[str, list[tuple[str, Finding]]] = defaultdict(list)
    already: set[tuple[str, str]] = set()
    for f in result.findings:
        if f.status == "resolved":
            already.add((f.tenant, plan.fid(f)))
        else:
            by_tenant[f.tenant].append((plan.fid(f), f))
    ok = {t.name for t in result.tenants if t.status == "ok"}
    names = [t.name for t in result.tenants] + [n for n in by_tenant if n not in ok]
    for tenant in dict.fromkeys(names):
        listed = by_tenant.get(tenant, [])
        stored = plan.stored[tenant] = _stored_states(conn, tenant)
        lifecycle.assign(listed, stored, result.started_at)
        if tenant not in ok:
            continue  # a tenant not audited in full resolves nothing
        if tenant not in result.inventories:
            raise StoreError(f"state: tenant {tenant!r} is ok but the run carries no inventory")
        present = {fid for fid, _ in listed}
        fps = [fp for fp in lifecycle.to_resolve(stored, present) if (tenant, fp) not in already]
        plan.resolved[tenant] = fps
        gone = _resolve(conn, result, tenant, fps)
        for f in gone:
            plan.ids[id(f)] = f.id
        result.findings.extend(gone)
    return plan


def write_states(conn: Connection, result: RunResult, plan: Plan) -> bytes:
    """Write the finding states that changed and mark the resolved ones; returns the run
    document (findings.json, compressed), built in the same pass."""
    bind = _datetimes(conn, "bind")
    now, run_id = bind(result.started_at), result.run_id
    sql = _sql(conn, _UPSERT)
    writer = codec.DocumentWriter(result)
    ok = set(plan.resolved)
    batch: dict[tuple[str, str], tuple[Any, ...]] = {}
    for f in result.findings:
        line = writer.add_finding(f)
        if f.status == "resolved":
            continue
        fid = plan.fid(f)
        digest = hashlib.blake2b(line.encode("utf-8"), digest_size=16).hexdigest()
        before = plan.stored.get(f.tenant, {}).get(fid)
        if (
            f.tenant in ok
            and before is not None
            and before.digest == digest
            and before.status == f.status
        ):
            continue  # unchanged: only last_seen moves (below, in one statement)
        batch[(f.tenant, fid)] = (
            f.tenant,
            fid,
            f.rule_id,
            f.status,
            f.lifecycle,
            bind(f.first_seen or result.started_at),
            now,
            None,
            run_id,
            line,
            digest,
        )
        if len(batch) >= _BATCH:
            conn.exec_driver_sql(sql, list(batch.values()))
            batch.clear()
    if batch:
        conn.exec_driver_sql(sql, list(batch.values()))
    resolved = [
        (bind(result.started_at), run_id, t, fp) for t, fps in plan.resolved.items() for fp in fps
    ]
    for chunk in _chunks(resolved, _BATCH):
        conn.exec_driver_sql(
            _sql(
                conn,
                "UPDATE findings SET status = 'resolved', lifecycle = 'resolved', "
                "resolved_at = ?, last_run_id = ? WHERE tenant = ? AND fingerprint = ?",
            ),
            chunk,
        )
    for tenant in sorted(ok):
        conn.exec_driver_sql(
            _sql(
                conn,
                "UPDATE findings SET last_seen = ?, last_run_id = ? WHERE tenant = ? "
                "AND status <> 'resolved' AND last_run_id <> ?",
            ),
            (now, run_id, tenant, run_id),
        )
    return writer.finish()
