"""findings.json (schema_version 1, always written) and inventory.json (the evidence collected)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import IO, Any

from auditor.engine.findings import Finding
from auditor.jsonio import dumps, dumps_utf8
from auditor.jsonio import json_default as json_default
from auditor.report.base import ReportContext, atomic_bytes, atomic_text
from auditor.result import RunResult

_CHUNK = 2000  # findings encoded and written at a time


def dump_json(data: object, path: Path) -> None:
    with atomic_text(path) as handle:
        handle.write(dumps(data, indent=True))
        handle.write("\n")


def _dumps(value: object, indent: int | None = 2) -> str:
    return dumps(value, indent=indent is not None)


def dump_findings(data: dict[str, Any], path: Path) -> None:
    """findings.json: indented like ``indent=2``, except that each finding is one line. Same
    JSON; a finding is one grep hit, and 100,000 of them write in a third of the time (the
    C encoder does not indent)."""
    with atomic_text(path) as handle:
        handle.write("{")
        for i, (key, value) in enumerate(data.items()):
            handle.write(("," if i else "") + "\n  " + _dumps(key) + ": ")
            if key == "findings" and isinstance(value, list) and value:
                handle.write("[\n    ")
                handle.write(",\n    ".join(_dumps(f, None) for f in value))
                handle.write("\n  ]")
            else:  # JSON text has no raw line break inside a string: only layout ones
                handle.write(_dumps(value).replace("\n", "\n  "))
        handle.write("\n}\n")


def _write_findings(handle: IO[bytes], findings: Iterable[Finding]) -> None:
    """The findings array's elements, one line each, encoded a chunk at a time."""
    it = iter(findings)
    first = True
    while chunk := list(islice(it, _CHUNK)):
        handle.write((b"[\n    " if first else b",\n    ")
                     + b",\n    ".join(dumps_utf8(f.to_dict()) for f in chunk))
        first = False
    handle.write(b"[]" if first else b"\n  ]")


def stream_findings(result: RunResult, path: Path) -> None:
    """findings.json of ``result``, byte for byte what ``dump_findings(result.to_dict())``
    writes, without the whole document in memory: each finding is encoded as it is written."""
    # The document without its findings: every other field as RunResult.to_dict() has it (the
    # summary counts the findings, so it is taken from the whole result).
    head = replace(result, findings=[]).to_dict()
    if "summary" in head:
        head["summary"] = result.summary()
    with atomic_bytes(path) as handle:
        handle.write(b"{")
        for i, (key, value) in enumerate(head.items()):
            handle.write((b"," if i else b"") + b"\n  " + dumps_utf8(key) + b": ")
            if key == "findings":
                _write_findings(handle, result.findings)
            else:  # JSON text has no raw line break inside a string: only layout ones
                handle.write(dumps_utf8(value, indent=True).replace(b"\n", b"\n  "))
        handle.write(b"\n}\n")


class JsonReporter:
    name = "json"
    filename = "findings.json"

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None:
        stream_findings(result, path)


class InventoryReporter:
    """Not a choosable format: written with every run, beside findings.json."""

    name = "inventory"
    filename = "inventory.json"

    def write(self, result: RunResult, path: Path, context: ReportContext) -> None:
        dump_json({tenant: inv.to_dict() for tenant, inv in result.inventories.items()}, path)
