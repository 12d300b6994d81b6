"""Content-addressed storage of the big stored documents (schema version 3).

A run document and an inventory snapshot are stored as a small *manifest* (in ``runs.document``
and ``tenant_runs.inventory``: what differs every night, and the list of chunks) and their
*chunks*: runs of JSON lines, each stored once in ``blobs`` under the sha256 of its bytes
(zlib-compressed), however many runs list it. ``blob_refs`` holds one row per (run, chunk) so
that retention can drop the chunks no run lists any more, in the transaction that drops the runs.

Chunk boundaries depend on the content (a line whose CRC ends in ``_MASK`` zero bits ends a
chunk), so that a finding added or removed changes one chunk, not every chunk after it.

Writers: only :func:`auditor.state.record.record` (one run written at a time: SQLite's
BEGIN IMMEDIATE, PostgreSQL's record lock) and the schema upgrade (its own lock) write or collect
blobs, so a chunk being listed by one writer is never collected by another one at the same time.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditor.state.rows import BadRow
from auditor.state.schema import blob_refs, blobs

LEVEL = 1
LOCK_CLASS_RECORD = 0x50AB  # PostgreSQL advisory-lock class of writing a run (see migrate.py)
_MASK = (1 << 8) - 1  # ~256 lines per chunk on average
_MAX_LINES = 4096
_IN_CHUNK = 500
PACK = b"SKP3"  # a packed document: manifest and chunks, as the writer hands them over
_HEAD = struct.Struct(">I")


class Chunker:
    """Cuts lines into content-defined chunks, each compressed as soon as it is complete."""

    def __init__(self, *, compress: bool = True) -> None:
        self.chunks: list[tuple[str, bytes]] = []  # (sha256 hex, data), in order
        self._lines: list[bytes] = []
        self._compress = compress

    def add(self, line: bytes, *, last: bool = False) -> None:
        """One line (no newline in it); ``last``: the chunk ends after it."""
        self._lines.append(line)
        if last or len(self._lines) >= _MAX_LINES or not zlib.crc32(line) & _MASK:
            self.cut()

    def cut(self) -> None:
        if not self._lines:
            return
        data = b"\n".join(self._lines)
        self._lines = []
        digest = hashlib.sha256(data).hexdigest()
        self.chunks.append((digest, zlib.compress(data, LEVEL) if self._compress else data))

    def finish(self) -> list[tuple[str, bytes]]:
        self.cut()
        return self.chunks


def pack(manifest: bytes, chunks: list[tuple[str, bytes]]) -> bytes:
    """The manifest and its chunks in one value (what the document writer returns)."""
    parts = [PACK, _HEAD.pack(len(manifest)), manifest]
    for digest, data in chunks:
        parts += [digest.encode("ascii"), _HEAD.pack(len(data)), data]
    return b"".join(parts)


def unpack(packed: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    if not packed.startswith(PACK):
        raise ValueError("not a packed document")
    view = memoryview(packed)
    pos = len(PACK)
    (size,) = _HEAD.unpack_from(view, pos)
    pos += _HEAD.size
    manifest = bytes(view[pos : pos + size])
    pos += size
    chunks: list[tuple[str, bytes]] = []
    while pos < len(packed):
        digest = bytes(view[pos : pos + 64]).decode("ascii")
        pos += 64
        (size,) = _HEAD.unpack_from(view, pos)
        pos += _HEAD.size
        chunks.append((digest, bytes(view[pos : pos + size])))
        pos += size
    return manifest, chunks


def _insert_ignore(conn: Connection, table: sa.Table) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def _chunks_of(items: list[Any], size: int = _IN_CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def writer_lock(conn: Connection) -> None:
    """On PostgreSQL, the record lock (transaction-level; record_run holds it already): no chunk
    is collected by one writer while another one lists it."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:c, hashtext(current_schema()))"),
                     {"c": LOCK_CLASS_RECORD})


def existing(conn: Connection, digests: Iterable[str]) -> set[str]:
    wanted = sorted(set(digests))
    found: set[str] = set()
    for part in _chunks_of(wanted):
        found.update(conn.execute(sa.select(blobs.c.hash).where(blobs.c.hash.in_(part))).scalars())
    return found


def put(conn: Connection, run_id: str, chunks: list[tuple[str, bytes]], *,
        compressed: bool = True) -> None:
    """Store the chunks not stored yet and list them all as used by ``run_id``. ``chunks``:
    (sha256 of the bytes, the bytes compressed, or as they are when not ``compressed``)."""
    writer_lock(conn)
    have = existing(conn, (d for d, _ in chunks))
    rows: dict[str, dict[str, Any]] = {}
    for digest, data in chunks:
        if digest not in have and digest not in rows:
            packed = data if compressed else zlib.compress(data, LEVEL)
            rows[digest] = {"hash": digest, "size": len(packed), "data": packed}
    for part in _chunks_of(list(rows.values()), 50):
        conn.execute(_insert_ignore(conn, blobs), part)
    refs = [{"run_id": run_id, "hash": d} for d in sorted({d for d, _ in chunks})]
    for part in _chunks_of(refs):
        conn.execute(_insert_ignore(conn, blob_refs), part)


def store_document(conn: Connection, run_id: str, packed: bytes) -> bytes:
    """Store a packed run document; returns its manifest (for ``runs.document``)."""
    manifest, chunks = unpack(packed)
    put(conn, run_id, chunks)
    return manifest


def fetch(conn: Connection, digests: list[str], where: str) -> Iterator[bytes]:
    """The chunks' bytes, in order, each checked against its hash; BadRow names a missing or
    damaged one (``where``: what lists it)."""
    for part in _chunks_of(digests, 16):
        rows = dict(conn.execute(
            sa.select(blobs.c.hash, blobs.c.data).where(blobs.c.hash.in_(set(part)))
        ).all())
        for digest in part:
            yield decode(digest, rows.get(digest), where)


def decode(digest: str, value: bytes | None, where: str) -> bytes:
    row = f"state: blobs row {digest!r} ({where})"
    if value is None:
        raise BadRow(f"{row} is missing")
    try:
        data = zlib.decompress(value)
    except (zlib.error, TypeError):
        raise BadRow(f"{row}: data is not zlib-compressed") from None
    if hashlib.sha256(data).hexdigest() != digest:
        raise BadRow(f"{row}: data does not match its sha256")
    return data


def release(conn: Connection, run_ids: list[str]) -> int:
    """Forget what the runs list (they are being deleted) and delete the chunks that no other
    run lists; returns the number of chunks deleted."""
    if not run_ids:
        return 0
    writer_lock(conn)
    candidates: set[str] = set()
    for part in _chunks_of(run_ids):
        candidates.update(conn.execute(
            sa.select(blob_refs.c.hash).where(blob_refs.c.run_id.in_(part))
        ).scalars())
        conn.execute(sa.delete(blob_refs).where(blob_refs.c.run_id.in_(part)))
    deleted = 0
    still = sa.select(blob_refs.c.hash).where(blob_refs.c.hash == blobs.c.hash).correlate(
        blobs).exists()
    for part in _chunks_of(sorted(candidates)):
        res = conn.execute(sa.delete(blobs).where(blobs.c.hash.in_(part), ~still))
        deleted += res.rowcount or 0
    return deleted
