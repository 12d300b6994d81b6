"""findings.json (schema_version 1, always written) and inventory.json (the evidence collected)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

from auditor.report.base import ReportContext, atomic_text
from auditor.result import RunResult, iso


def json_default(value: object) -> Any:
    """Values a rule may put in evidence that JSON has no type for."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def dump_json(data: object, path: Path) -> None:
    with atomic_text(path) as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False, default=json_default)
        handle.write("\n")


class JsonReporter:
    name = "json"
    filename = "findings.json"

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None:
        dump_json(result.to_dict(), path)


class InventoryReporter:
    """Not a choosable format: written with every run, beside findings.json."""

    name = "inventory"
    filename = "inventory.json"

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None:
        dump_json({tenant: inv.to_dict() for tenant, inv in result.inventories.items()}, path)
