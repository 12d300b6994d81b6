"""findings.csv opens as one row per finding with formula cells neutralized."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from report_factory import HOSTILE

from auditor.report.csv_report import COLUMNS
from auditor.result import RunResult

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_one_row_per_finding_with_every_column(
        hostile: RunResult, write: Callable[..., Path]) -> None:
    path = write(hostile, "csv")
    rows = _rows(path)
    assert len(rows) == len(hostile.findings)
    assert tuple(rows[0]) == COLUMNS
    by_id = {r["id"]: r for r in rows}
    for f in hostile.findings:
        row = by_id[f.id]
        assert row["tenant"].lstrip("'") == f.tenant
        assert row["severity"] == f.severity and row["status"] == f.status
        if f.evidence:
            assert json.loads(row["evidence"]) == json.loads(json.dumps(f.evidence))
    muted = next(f for f in hostile.findings if f.status == "muted")
    assert by_id[muted.id]["exception_owner"] == muted.exception["owner"]  # type: ignore[index]


def test_no_cell_can_be_evaluated_as_a_formula(
        hostile: RunResult, write: Callable[..., Path]) -> None:
    rows = _rows(write(hostile, "csv"))
    cells = [v for r in rows for v in r.values()]
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    names = {r["resource_name"] for r in rows}
    assert "'" + HOSTILE[2] in names  # =HYPERLINK(...) kept, as text
    assert "'" + HOSTILE[5] in names  # +cmd|...


def test_hostile_text_survives_as_one_cell(hostile: RunResult, write: Callable[..., Path]) -> None:
    path = write(hostile, "csv")
    rows = _rows(path)
    names = {r["resource_name"] for r in rows}
    # Line breaks stay in the one cell; NUL, escape codes and bidi overrides are shown escaped
    # (a terminal `cat` cannot be driven by them).
    assert "line\nbreak\\x0d\\x1b[31mred\\x00nul\u2028ls\\u202eevil" in names
    assert HOSTILE[7] in names  # quotes
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert raw.splitlines()[0].startswith(b'"id","tenant","rule_id"')
