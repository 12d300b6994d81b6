"""Stored forms: the run document (findings.json as compressed JSON lines) and inventory snapshots.

The run document is the findings.json of the run, stored as zlib-compressed JSON lines: the first
line is the document without ``findings``, each further line one finding. Writing it one finding
at a time keeps memory flat for runs with hundreds of thousands of findings.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from auditor import jsonio
from auditor.engine.findings import Finding
from auditor.result import ExceptionStatus, RunResult, TenantResult
from auditor.soar.models import DriftNote, Inventory

_LEVEL = 1
_CHUNK = 1 << 16


def dumps(value: Any) -> str:
    return jsonio.dumps(value)


class DocumentWriter:
    """Compresses the run document as it is fed (header first, then one finding at a time)."""

    def __init__(self, result: RunResult) -> None:
        self._z = zlib.compressobj(_LEVEL)
        self._parts: list[bytes] = []
        head = dataclasses.replace(result, findings=[]).to_dict()
        head["summary"] = result.summary()
        del head["findings"]
        self._add(dumps(head))

    def _add(self, line: str) -> None:
        out = self._z.compress(line.encode("utf-8") + b"\n")
        if out:
            self._parts.append(out)

    def add_finding(self, finding: Finding) -> str:
        """Add one finding; returns its JSON (stored again as the finding's state data)."""
        line = dumps(finding.to_dict())
        self._add(line)
        return line

    def finish(self) -> bytes:
        self._parts.append(self._z.flush())
        return b"".join(self._parts)


def _lines(blob: bytes) -> Iterator[str]:
    z = zlib.decompressobj()
    rest = b""
    for i in range(0, len(blob), _CHUNK):
        data = rest + z.decompress(blob[i : i + _CHUNK])
        *complete, rest = data.split(b"\n")
        for line in complete:
            yield line.decode("utf-8")
    rest += z.flush()
    if rest.strip():
        yield rest.decode("utf-8")


def read_result(blob: bytes, inventories: dict[str, Inventory] | None = None) -> RunResult:
    """The stored run as a RunResult, one finding at a time (no second copy as dicts)."""
    lines = _lines(blob)
    head: dict[str, Any] = json.loads(next(lines))
    result = result_from_dict(head, inventories)
    result.findings = [Finding.from_dict(json.loads(line)) for line in lines if line]
    return result


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def result_from_dict(
    doc: dict[str, Any], inventories: dict[str, Inventory] | None = None
) -> RunResult:
    """A RunResult back from its findings.json document."""
    run = doc["run"]
    started = _dt(run["started_at"])
    assert started is not None
    exceptions = doc.get("exceptions") or {}
    return RunResult(
        run_id=run["id"],
        started_at=started,
        finished_at=_dt(run.get("finished_at")),
        tool_version=run.get("tool_version", ""),
        tenants=[
            TenantResult(
                name=t["name"],
                status=t["status"],
                error=t.get("error"),
                counts=dict(t.get("counts") or {}),
                auth=t.get("auth", "appkey"),
                not_applicable=list(t.get("not_applicable") or []),
                surfaces=list(t.get("surfaces") or []),
            )
            for t in doc.get("tenants", [])
        ],
        findings=[Finding.from_dict(f) for f in doc.get("findings", [])],
        inventories=dict(inventories or {}),
        exceptions=ExceptionStatus(
            expired=list(exceptions.get("expired", [])), unused=list(exceptions.get("unused", [])),
            broad=list(exceptions.get("broad", [])),
        ),
        drift=[
            DriftNote(endpoint=d["endpoint"], field=d["field"], detail=d["detail"])
            for d in doc.get("drift", [])
        ],
        notes=list(doc.get("notes", [])),
        checks=dict(doc.get("checks") or {}),
    )


def pack_inventory(inventory: Inventory) -> bytes:
    return zlib.compress(dumps(inventory.to_dict()).encode("utf-8"), _LEVEL)


def unpack_inventory(blob: bytes) -> Inventory:
    return Inventory.from_dict(json.loads(zlib.decompress(blob)))
