"""Stored forms: the run document (findings.json) and inventory snapshots, as manifests and
content-addressed chunks (:mod:`auditor.state.blobs`).

A run document is stored as its manifest (``runs.document``) and chunks of JSON lines: the first
chunk is the document without ``run`` and ``findings`` (one line), each further line one finding
without what changes every night on its own: ``lifecycle`` and ``first_seen`` (run-length coded
in the manifest), and the day counts that move with the audit's date (a number before " day(s)",
the value of a ``...days...`` key: each replaced by a NUL, the numbers kept in the manifest in
order). An unchanged night thus lists the same chunks as the night before; only its manifest is
new. Writing it one finding at a time keeps memory flat for runs with hundreds of thousands of
findings (each chunk is compressed as soon as it is complete).

An inventory snapshot is stored likewise: its manifest (``tenant_runs.inventory``) holds
``collected_at``; the chunks hold the snapshot without it (one line) and each API key, user, IdP
group mapping and IAM binding (one line each).

Schema version 2 stored both whole (zlib-compressed JSON lines / JSON); the upgrade to version 3
reads them with :func:`read_legacy_result` and :func:`unpack_legacy_inventory`.
"""

from __future__ import annotations

import dataclasses
import json
import re
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from auditor import jsonio
from auditor.engine.findings import Finding
from auditor.result import ExceptionStatus, RunResult, TenantResult
from auditor.soar.models import DriftNote, Inventory
from auditor.state import blobs

_LEVEL = 1
_CHUNK = 1 << 16
DOCUMENT = b"SKA3"  # a run document's manifest
INVENTORY = b"SKI3"  # an inventory snapshot's manifest
_LISTS = ("api_keys", "users", "idp_mappings", "iam_bindings")  # one line per item
# Day counts: the value of a JSON key naming days, a number followed by " day"/" days".
_DAY_KEY = re.compile(r'day[A-Za-z0-9_]*":-?(\d+)')
_DAY_KEY_SPLIT = re.compile(r'(day[A-Za-z0-9_]*":-?)(\d+)')
_DIGITS = frozenset("0123456789")
_HOLE = "\x00"  # never in JSON text (control characters are escaped)

Load = Callable[[list[str], str], Iterator[bytes]]
"""Chunks by sha256, in order, checked (``blobs.fetch`` bound to a connection)."""


def dumps(value: Any) -> str:
    return jsonio.dumps(value)


class _Runs:
    """Run-length coding of a sequence of JSON values: ``[[value, count], ...]``."""

    def __init__(self) -> None:
        self.runs: list[list[Any]] = []

    def add(self, value: Any) -> None:
        if self.runs and self.runs[-1][0] == value:
            self.runs[-1][1] += 1
        else:
            self.runs.append([value, 1])


def _expand(runs: Any) -> Iterator[Any]:
    for value, count in runs:
        for _ in range(int(count)):
            yield value


def _spots(line: str) -> list[tuple[int, int]]:
    """Where the day counts of a line are (start, end), in order."""
    spots = [m.span(1) for m in _DAY_KEY.finditer(line)]
    at = line.find(" day")
    while at >= 0:
        start = at
        while start > 0 and line[start - 1] in _DIGITS:
            start -= 1
        end = at + 4 + line.startswith("s", at + 4)
        if start < at and (end == len(line) or not (line[end].isalnum() or line[end] == "_")):
            spots.append((start, at))
        at = line.find(" day", at + 4)
    spots.sort()
    return spots


def _template(line: str, numbers: list[str]) -> str:
    if " day" not in line:  # the common case: only keys naming days
        parts = _DAY_KEY_SPLIT.split(line)
        if len(parts) == 1:
            return line
        pieces = [parts[0]]
        for i in range(1, len(parts), 3):
            pieces += (parts[i], _HOLE, parts[i + 2])
            numbers.append(parts[i + 1])
        return "".join(pieces)
    spots = _spots(line)
    if not spots:
        return line
    out: list[str] = []
    last = 0
    for start, end in spots:
        out.append(line[last:start])
        out.append(_HOLE)
        numbers.append(line[start:end])
        last = end
    out.append(line[last:])
    return "".join(out)


def _fill(line: str, numbers: Iterator[str]) -> str:
    if _HOLE not in line:
        return line
    parts = line.split(_HOLE)
    out = [parts[0]]
    for part in parts[1:]:
        out.append(_next(numbers))
        out.append(part)
    return "".join(out)


def _next(values: Iterator[Any]) -> Any:
    """The next value; a manifest that lists fewer than its chunks hold is damaged (ValueError,
    which the store reports in one line)."""
    for value in values:
        return value
    raise ValueError("the manifest does not match its chunks")


def _manifest(magic: bytes, value: dict[str, Any]) -> bytes:
    return magic + zlib.compress(dumps(value).encode("utf-8"), 6)


def read_manifest(magic: bytes, value: bytes) -> dict[str, Any]:
    if not value.startswith(magic):
        raise ValueError("not a manifest of schema version 3")
    doc: dict[str, Any] = json.loads(zlib.decompress(value[len(magic) :]))
    return doc


class DocumentWriter:
    """Builds the run document as it is fed (header first, then one finding at a time);
    :meth:`finish` returns it packed (``blobs.pack``) for :func:`store_document`."""

    def __init__(self, result: RunResult) -> None:
        head = dataclasses.replace(result, findings=[]).to_dict()
        self._run = head.pop("run")
        del head["findings"], head["summary"]
        self._chunks = blobs.Chunker()
        self._chunks.add(dumps(head).encode("utf-8"), last=True)
        self._lifecycle = _Runs()
        self._first_seen = _Runs()
        self._numbers: list[str] = []
        self._tenant: str | None = None

    def add_finding(self, finding: Finding) -> str:
        """Add one finding; returns its JSON (stored again as the finding's state data)."""
        entry = finding.to_dict()
        line = dumps(entry)
        for runs, value in ((self._lifecycle.runs, entry.pop("lifecycle")),
                            (self._first_seen.runs, entry.pop("first_seen"))):
            if runs and runs[-1][0] == value:
                runs[-1][1] += 1
            else:
                runs.append([value, 1])
        stable = dumps(entry)
        if "day" in stable:
            stable = _template(stable, self._numbers)
        if finding.tenant != self._tenant:  # each tenant's findings in chunks of their own
            self._chunks.cut()
            self._tenant = finding.tenant
        self._chunks.add(stable.encode("utf-8"))
        return line

    def finish(self) -> bytes:
        chunks = self._chunks.finish()
        manifest = _manifest(DOCUMENT, {
            "run": self._run,
            "chunks": [d for d, _ in chunks],
            "lifecycle": self._lifecycle.runs,
            "first_seen": self._first_seen.runs,
            "numbers": ",".join(self._numbers),
        })
        return blobs.pack(manifest, chunks)


def json_head(data: bytes) -> Any:
    """The first line of a chunk, parsed (the header of a run document)."""
    return json.loads(data.split(b"\n", 1)[0])


def store_document(conn: Connection, run_id: str, packed: bytes) -> bytes:
    """Store the chunks of a packed run document; returns its manifest (``runs.document``)."""
    return blobs.store_document(conn, run_id, packed)


def document_lines(manifest: bytes, load: Load, where: str) -> tuple[dict[str, Any],
                                                                       Iterator[str]]:
    """The manifest and the stored lines of a run document (the header line first)."""
    doc = read_manifest(DOCUMENT, manifest)

    def lines() -> Iterator[str]:
        for data in load(list(doc["chunks"]), where):
            for line in data.split(b"\n"):
                yield line.decode("utf-8")

    return doc, lines()


def read_result(value: bytes, load: Load, inventories: dict[str, Inventory] | None = None,
                where: str = "") -> RunResult:
    """The stored run as a RunResult, one finding at a time (no second copy as dicts)."""
    if not value.startswith(DOCUMENT):
        return read_legacy_result(value, inventories)
    doc, lines = document_lines(value, load, where)
    head: dict[str, Any] = json.loads(_next(lines))
    head["run"] = doc["run"]
    result = result_from_dict(head, inventories)
    lifecycle = _expand(doc["lifecycle"])
    first_seen = _expand(doc["first_seen"])
    numbers = iter(doc["numbers"].split(",") if doc["numbers"] else [])
    findings: list[Finding] = []
    for line in lines:
        entry = json.loads(_fill(line, numbers))
        entry["lifecycle"] = _next(lifecycle)
        entry["first_seen"] = _next(first_seen)
        findings.append(Finding.from_dict(entry))
    if next(lifecycle, None) is not None or next(numbers, None) is not None:
        raise ValueError(f"the manifest of {where or 'the run'} does not match its chunks")
    result.findings = findings
    return result


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


def legacy_document(result: RunResult) -> bytes:
    """The run document as schema version 2 stored it (zlib-compressed JSON lines: the document
    without ``findings``, then one finding a line); for tests of the upgrade."""
    head = dataclasses.replace(result, findings=[]).to_dict()
    head["summary"] = result.summary()
    del head["findings"]
    lines = [dumps(head)] + [dumps(f.to_dict()) for f in result.findings]
    return zlib.compress(("\n".join(lines) + "\n").encode("utf-8"), _LEVEL)


def read_legacy_result(blob: bytes, inventories: dict[str, Inventory] | None = None
                       ) -> RunResult:
    """A run document of schema version 2 (zlib-compressed JSON lines) as a RunResult."""
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


def inventory_chunks(inventory: Inventory) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The snapshot's manifest and its chunks (sha256, uncompressed bytes)."""
    doc = inventory.to_dict()
    collected_at = doc.pop("collected_at")
    items = {name: doc.pop(name, []) for name in _LISTS}
    doc["_items"] = {name: len(values) for name, values in items.items()}
    chunker = blobs.Chunker(compress=False)
    chunker.add(dumps(doc).encode("utf-8"), last=True)
    for name in _LISTS:
        for item in items[name]:
            chunker.add(dumps(item).encode("utf-8"))
        chunker.cut()
    chunks = chunker.finish()
    manifest = _manifest(INVENTORY, {"collected_at": collected_at,
                                     "chunks": [d for d, _ in chunks]})
    return manifest, chunks


def store_inventory(conn: Connection, run_id: str, inventory: Inventory) -> bytes:
    """Store the snapshot's chunks (those not stored yet); returns its manifest
    (``tenant_runs.inventory``)."""
    manifest, chunks = inventory_chunks(inventory)
    blobs.put(conn, run_id, chunks, compressed=False)
    return manifest


def unpack_inventory(value: bytes, load: Load, where: str = "") -> Inventory:
    if not value.startswith(INVENTORY):
        return unpack_legacy_inventory(value)
    manifest = read_manifest(INVENTORY, value)
    lines = (line for data in load(list(manifest["chunks"]), where) for line in data.split(b"\n"))
    doc: dict[str, Any] = json.loads(_next(lines))
    counts: dict[str, int] = doc.pop("_items")
    doc["collected_at"] = manifest["collected_at"]
    for name in _LISTS:
        doc[name] = [json.loads(line) for _, line in zip(range(counts.get(name, 0)), lines,
                                                         strict=False)]
        if len(doc[name]) != counts.get(name, 0):
            raise ValueError(f"the snapshot of {where or 'the tenant'} lacks {name}")
    return Inventory.from_dict(doc)


def unpack_legacy_inventory(blob: bytes) -> Inventory:
    """A snapshot of schema version 2 (zlib-compressed JSON)."""
    return Inventory.from_dict(json.loads(zlib.decompress(blob)))


def pack_legacy_inventory(inventory: Inventory) -> bytes:
    """A snapshot as schema version 2 stored it (for tests of the upgrade)."""
    return zlib.compress(dumps(inventory.to_dict()).encode("utf-8"), _LEVEL)

