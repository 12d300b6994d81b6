"""The terminal summary of a run: one table row per tenant, then one line per drift note, note and
tenant error. In ``--log-format json`` no table: one JSON record per tenant and one for the run.

The table fits the terminal: tenant names are never cut (two ``acme-production-emea-...`` stay
apart); the severity headers shorten and the status cell is one line, cut with an ellipsis, with
the tenant's full error in an ``error:`` line after the table.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.result import RunResult
from auditor.textsafe import term_safe

log = logging.getLogger("auditor.cli")

SEVERITY_COLUMNS = ("critical", "high", "medium", "low", "info")
HEADERS_FULL = ("keys", "critical", "high", "medium", "low", "info", "unknown")
HEADERS_SHORT = ("keys", "crit", "high", "med", "low", "info", "unk")
MIN_STATUS = 12  # "ERROR: GetA…"
WIDE = 160  # a log file or a pipe (no COLUMNS): room for every column


def tenant_rows(result: RunResult) -> list[dict[str, Any]]:
    rows = []
    for tenant in result.tenants:
        mine = [f for f in result.findings if f.tenant == tenant.name]
        sev = {s: sum(1 for f in mine if f.status == "fail" and f.severity == s)
               for s in SEVERITY_COLUMNS}
        rows.append({
            "tenant": tenant.name, "status": tenant.status, "error": tenant.error,
            "auth": tenant.auth, "api_keys": tenant.counts.get("api_keys"),
            "failing": sev, "unknown": sum(1 for f in mine if f.status == "unknown"),
        })
    return rows


def _cells(row: dict[str, Any]) -> list[str]:
    keys = row["api_keys"]
    return [str("-" if keys is None else keys), *(str(row["failing"][s]) for s in
                                                  SEVERITY_COLUMNS), str(row["unknown"])]


def _layouts(width: int, names: Sequence[str], statuses: Sequence[str],
             auths: Sequence[str], numbers: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Headers, padding and the status width that fit ``width`` (the first layout that does)."""
    tenant_w = max([len("tenant"), *map(len, names)])
    auth_w = max([len("auth"), *map(len, auths)])
    status_natural = max([len("status"), *map(len, statuses)])
    n = 3 + len(HEADERS_FULL)
    choice: dict[str, Any] = {}
    for headers, pad in ((HEADERS_FULL, 1), (HEADERS_SHORT, 1), (HEADERS_SHORT, 0)):
        num_w = [max([len(h), *(len(r[i]) for r in numbers)]) for i, h in enumerate(headers)]
        overhead = (n + 1) + 2 * pad * n  # borders and padding
        room = width - overhead - tenant_w - auth_w - sum(num_w)
        choice = {"headers": headers, "pad": pad, "status": max(MIN_STATUS, min(
            status_natural, room)), "tenant": tenant_w}
        if room >= min(MIN_STATUS, status_natural):
            return choice
    return choice  # nothing fits: the tightest; the tenant names still stay whole


def _width(console: Any) -> int:
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return int(console.width)
    return max(int(console.width), WIDE)


def print_summary(result: RunResult, out_dir: Path, *, json_mode: bool) -> None:
    """``result``: the run as the outputs show it (maybe filtered)."""
    rows = tenant_rows(result)
    if json_mode:
        _log_summary(result, rows, out_dir)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # No rich markup (API text such as "[bold]" stays text); lines are not hard-wrapped, so each
    # drift note or note stays one line for grep.
    console = Console(highlight=False, markup=False, emoji=False, soft_wrap=True)
    console.width = _width(console)
    statuses = ["ok" if r["status"] == "ok" else f"ERROR: {r['error'] or 'not collected'}"
                for r in rows]
    statuses = [term_safe(s) for s in statuses]
    names = [term_safe(r["tenant"]) for r in rows]
    auths = [term_safe(r["auth"]) for r in rows]
    numbers = [_cells(r) for r in rows]
    layout = _layouts(console.width, names, statuses, auths, numbers)
    table = Table(title=f"Audit {result.run_id}: {result.status.upper()}",
                  padding=(0, layout["pad"]))
    table.add_column("tenant", no_wrap=True, min_width=layout["tenant"])
    table.add_column("status", no_wrap=True, overflow="ellipsis", max_width=layout["status"])
    table.add_column("auth", no_wrap=True)
    for header in layout["headers"]:
        table.add_column(header, justify="right", no_wrap=True)
    for name, status, auth, cells in zip(names, statuses, auths, numbers, strict=True):
        table.add_row(Text(name), Text(status, no_wrap=True, overflow="ellipsis"), Text(auth),
                      *cells)
    console.print(table)
    for row in rows:
        if row["status"] != "ok":
            console.print(f"error: {term_safe(row['tenant'])}: "
                          f"{term_safe(row['error'] or 'not collected')}")
    for line in drift_lines(result):
        console.print(line)
    if any(t.auth == "google" for t in result.tenants):
        console.print("auth google: instance migrated to Google Cloud; IAM permissions replace "
                      "permission groups, so permission-group findings judge the legacy groups "
                      "the API still reports")
    summary = result.summary()
    console.print(
        f"failing {summary['failing']}, unknown {summary['unknown']}, muted {summary['muted']}, "
        f"new {summary['new']}, resolved {summary['resolved']}"
    )
    for note in result.notes:
        console.print(f"note: {term_safe(note)}")
    console.print(f"reports: {term_safe(str(out_dir))}")


def drift_lines(result: RunResult) -> list[str]:
    """``drift: <tenant>: <endpoint> <field>: <detail>``, once per tenant, endpoint and field;
    notes no tenant's inventory carries (a stored run) come without the tenant."""
    lines: list[str] = []
    covered: set[tuple[str, str]] = set()
    for tenant in result.tenants:
        inventory = result.inventories.get(tenant.name)
        seen: set[tuple[str, str]] = set()
        for note in inventory.drift if inventory is not None else ():
            if (note.endpoint, note.field) in seen:
                continue
            seen.add((note.endpoint, note.field))
            covered.add((note.endpoint, note.field))
            lines.append(f"drift: {term_safe(tenant.name)}: {term_safe(note.endpoint)} "
                         f"{term_safe(note.field)}: {term_safe(note.detail)}")
    for note in result.drift:
        if (note.endpoint, note.field) not in covered:
            lines.append(f"drift: {term_safe(note.endpoint)} {term_safe(note.field)}: "
                         f"{term_safe(note.detail)}")
    return lines


def _log_summary(result: RunResult, rows: list[dict[str, Any]], out_dir: Path) -> None:
    for row in rows:
        level = logging.INFO if row["status"] == "ok" else logging.ERROR
        log.log(level, "tenant %s: %s", row["tenant"],
                "ok" if row["status"] == "ok" else f"ERROR: {row['error']}",
                extra={"event": "tenant_result", "tenant": row["tenant"],
                       "run_id": result.run_id,
                       "fields": {k: v for k, v in row.items() if k != "tenant"}})
    for tenant in result.tenants:
        inventory = result.inventories.get(tenant.name)
        seen: set[tuple[str, str]] = set()
        for note in inventory.drift if inventory is not None else ():
            if (note.endpoint, note.field) not in seen:
                seen.add((note.endpoint, note.field))
                log.warning("drift: %s %s: %s", note.endpoint, note.field, note.detail,
                            extra={"event": "drift", "tenant": tenant.name,
                                   "run_id": result.run_id,
                                   "fields": {"endpoint": note.endpoint, "field": note.field}})
    for text in result.notes:
        log.warning("note: %s", text, extra={"event": "note", "run_id": result.run_id})
    summary = result.summary()
    log.info("audit %s finished: %s", result.run_id, result.status,
             extra={"event": "audit_finished", "run_id": result.run_id,
                    "fields": {"status": result.status, "summary": summary,
                               "reports": str(out_dir)}})


__all__ = ["drift_lines", "print_summary", "tenant_rows"]
