"""Content-addressed storage of run documents and snapshots (schema version 3): an unchanged
night stores no chunk again, a changed one stores what changed, retention collects the chunks no
run lists, the upgrade from version 2 converts every stored value, and a damaged chunk is named
in one line."""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine
from state_helpers import DAY, T0, finding, inventory, key, run

from auditor import jsonio
from auditor.cli import main
from auditor.engine.findings import Finding
from auditor.result import RunResult
from auditor.soar.models import Inventory
from auditor.state import Store, StoreError, codec
from auditor.state.connect import create_engine, parse_url
from auditor.state.migrate import current_version

KEYS = 600


def _inventory(at: datetime, changed: int | None = None) -> Inventory:
    keys = tuple(key(i, roles=(2,) if i == changed else (1,)) for i in range(1, KEYS + 1))
    return inventory("acme", keys=keys, at=at)


def _findings(night: int, changed: int | None = None) -> list[Finding]:
    """Per key: an age finding (its age in days grows by one a night) and a countdown (one less
    a night); one more finding for the ``changed`` key."""
    out: list[Finding] = []
    for i in range(1, KEYS + 1):
        age = finding("SOAR-AGE-001", i, severity="medium")
        age.message = f"key-{i} was created {100 + i + night} days ago; rotate within 90 days."
        age.evidence = {"age_days": 100 + i + night, "max_key_age_days": 90}
        mig = finding("SOAR-MIG-001", i)
        left = 120 - night
        mig.message = f"key-{i} uses AppKey, retired on 2026-05-05 ({left} days left)."
        mig.evidence = {"days_left": left, "shutdown": "2026-05-05"}
        out += [age, mig]
        if i == changed:
            out.append(finding("SOAR-ROLE-001", i))
    return out


def _night(night: int, changed: int | None = None) -> RunResult:
    at = T0 + night * DAY
    return run(at, {"acme": _findings(night, changed)}, {"acme": _inventory(at, changed)})


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    eng = create_engine(parse_url(store_url))
    yield eng
    eng.dispose()


def _blobs(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT hash, size FROM blobs")).all())


def _refs(engine: Engine, run_id: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT hash FROM blob_refs WHERE run_id = :r"),
                                {"r": run_id}).scalars())


def _same(store: Store, result: RunResult) -> None:
    """The stored run is the recorded one: the same findings.json, byte for byte, and the same
    snapshots."""
    stored = store.load_run(result.run_id)
    assert jsonio.dumps(stored.to_dict()) == jsonio.dumps(result.to_dict())
    assert {t: i.to_dict() for t, i in stored.inventories.items()} == {
        t: i.to_dict() for t, i in result.inventories.items()}


def test_two_identical_nights_store_the_big_documents_once(
        make_store: Callable[..., Store], engine: Engine) -> None:
    store = make_store()
    first, second, third = _night(0), _night(1), _night(2)
    store.record_run(first)
    after_first = _blobs(engine)
    assert len(after_first) >= 4  # the header, findings and snapshot chunks
    store.record_run(second)
    store.record_run(third)
    assert _blobs(engine) == after_first  # nothing stored again: only manifests and references
    assert _refs(engine, first.run_id) == _refs(engine, second.run_id) == _refs(
        engine, third.run_id) == set(after_first)
    with engine.connect() as conn:
        manifests = conn.execute(sa.text(
            "SELECT id, length(document) FROM runs ORDER BY id")).all()
        snapshots = conn.execute(sa.text(
            "SELECT length(inventory) FROM tenant_runs")).scalars().all()
    document_bytes = sum(after_first.values())
    # What each night adds is small next to the chunks it shares (the numbers of 1,200 findings)
    assert all(size < document_bytes / 5 for _, size in manifests), (manifests, document_bytes)
    assert all(size < 500 for size in snapshots)
    assert [f.lifecycle for f in second.findings][:2] == ["open", "open"]
    for result in (first, second, third):
        _same(store, result)


def test_a_changed_night_stores_the_new_inventory(make_store: Callable[..., Store],
                                                  engine: Engine) -> None:
    store = make_store()
    first, changed = _night(0), _night(1, changed=KEYS // 2)
    store.record_run(first)
    before = _blobs(engine)
    store.record_run(changed)
    after = _blobs(engine)
    new = set(after) - set(before)
    assert new, "the changed key and its new finding are stored"
    # ... in a few chunks: the others are shared with the first night
    assert len(new) < len(before) / 2, (len(new), len(before))
    assert _refs(engine, changed.run_id) & set(before)
    _same(store, changed)
    _same(store, first)
    assert store.tenant_history("acme").previous_inventory == changed.inventories["acme"]
    assert store.load_run(first.run_id).inventories["acme"].api_keys[KEYS // 2 - 1].role_ids == (1,)


def _report(state: str, run_id: str, out: Path) -> dict[str, bytes]:
    result = CliRunner().invoke(main, ["report", "--run", run_id, "--out", str(out), "--format",
                                       "json", "--format", "csv"],
                                env={"SOAR_AUDITOR_STATE": state}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def test_retention_collects_unlisted_chunks_and_keeps_shared_ones(
        store_url: str, make_store: Callable[..., Store], engine: Engine, tmp_path: Path) -> None:
    store = make_store(retention_days=2)
    nights = [_night(0, changed=7)] + [_night(n) for n in range(1, 5)]
    for result in nights[:3]:
        store.record_run(result)
    only_first = _refs(engine, nights[0].run_id) - _refs(engine, nights[1].run_id) - _refs(
        engine, nights[2].run_id)
    assert only_first and only_first <= set(_blobs(engine))
    store.record_run(nights[3])  # the run of night 1 is past the retention
    assert not only_first & set(_blobs(engine))  # collected with the run that alone listed them
    shared = _refs(engine, nights[1].run_id) & _refs(engine, nights[3].run_id)
    assert shared
    before = _report(store_url, nights[2].run_id, tmp_path / "before")
    assert "findings.json" in before

    store.record_run(nights[4])  # the run of night 2 is past the retention

    assert [r.run_id for r in store.history()] == [r.run_id for r in nights[:1:-1]]
    stored = _blobs(engine)
    assert shared <= set(stored)  # night 2 is gone, nights 3 to 5 still list them
    with engine.connect() as conn:
        listed = set(conn.execute(sa.text("SELECT hash FROM blob_refs")).scalars())
    assert set(stored) == listed  # no chunk is kept that no run lists
    assert _report(store_url, nights[2].run_id, tmp_path / "after") == before
    _same(store, nights[4])


def _downgrade(engine: Engine, runs: list[RunResult]) -> None:
    """Make the store what schema version 2 left: whole documents and snapshots, no blobs."""
    with engine.begin() as conn:
        for result in runs:
            conn.execute(sa.text("UPDATE runs SET document = :d WHERE id = :i"),
                         {"d": codec.legacy_document(result), "i": result.run_id})
            for tenant, inv in result.inventories.items():
                conn.execute(
                    sa.text("UPDATE tenant_runs SET inventory = :v WHERE run_id = :i AND "
                            "tenant = :t"),
                    {"v": codec.pack_legacy_inventory(inv), "i": result.run_id, "t": tenant})
        conn.execute(sa.text("DROP TABLE blob_refs"))
        conn.execute(sa.text("DROP TABLE blobs"))
        conn.execute(sa.text("UPDATE schema_version SET version = 2"))


def test_upgrade_from_version_2_converts_documents_and_snapshots(
        make_store: Callable[..., Store], engine: Engine) -> None:
    nights = [_night(0), _night(1), _night(2, changed=3)]
    with make_store() as store:
        for result in nights:
            store.record_run(result)
        history = store.tenant_history("acme")
        expected = [store.load_run(r.run_id) for r in nights]
    _downgrade(engine, expected)
    with engine.connect() as conn:
        assert current_version(conn) == 2
        assert not sa.inspect(conn).has_table("blobs")

    store = make_store()
    with engine.connect() as conn:
        assert current_version(conn) == 3
        stored = conn.execute(sa.text("SELECT document FROM runs")).scalars().all()
    assert all(bytes(d).startswith(codec.DOCUMENT) for d in stored)
    for result in expected:
        _same(store, result)
    assert store.tenant_history("acme") == history
    assert _refs(engine, nights[0].run_id) == _refs(engine, nights[1].run_id)
    store.record_run(_night(3, changed=3))  # and it goes on as a store of version 3
    assert _refs(engine, nights[2].run_id) == _refs(engine, _night(3).run_id)


def _chunk_of(engine: Engine, run_id: str, first: bool) -> str:
    """The header chunk of the run's document (first), or one of its snapshot's chunks."""
    with engine.connect() as conn:
        value = conn.execute(sa.text("SELECT document FROM runs WHERE id = :i"),
                             {"i": run_id}).scalar()
        snapshot = conn.execute(sa.text("SELECT inventory FROM tenant_runs WHERE run_id = :i"),
                                {"i": run_id}).scalar()
    if first:
        return str(codec.read_manifest(codec.DOCUMENT, bytes(value))["chunks"][0])
    return str(codec.read_manifest(codec.INVENTORY, bytes(snapshot))["chunks"][-1])


@pytest.mark.parametrize(("sql", "problem"), [
    ("UPDATE blobs SET data = :d WHERE hash = :h", "data is not zlib-compressed"),
    ("UPDATE blobs SET data = :z WHERE hash = :h", "data does not match its sha256"),
    ("DELETE FROM blobs WHERE hash = :h", "is missing"),
])
def test_a_damaged_chunk_is_named_in_one_line(make_store: Callable[..., Store], engine: Engine,
                                              sql: str, problem: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    store = make_store()
    result = _night(0)
    store.record_run(result)
    header, snapshot = _chunk_of(engine, result.run_id, True), _chunk_of(engine, result.run_id,
                                                                          False)
    params = {"d": b"\x00\x11", "z": zlib.compress(b"{}")}
    with engine.begin() as conn:
        conn.execute(sa.text(sql), {**params, "h": header})
    with pytest.raises(StoreError) as caught:
        store.load_run(result.run_id)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"state: blobs row {header!r} (run {result.run_id!r})")
    assert message.endswith(problem)
    with engine.begin() as conn:
        conn.execute(sa.text(sql), {**params, "h": snapshot})
    with pytest.raises(StoreError) as caught:
        store.tenant_history("acme")
    assert str(caught.value).startswith(
        f"state: blobs row {snapshot!r} (snapshot of tenant 'acme' in run {result.run_id!r})")
    assert str(caught.value).endswith(problem)
    with caplog.at_level(logging.WARNING):  # the listings go on
        assert [p.run_id for p in store.runs()] == [result.run_id]
        assert store.runs()[0].legacy_keys is None
        assert [r.run_id for r in store.history()] == [result.run_id]


def test_the_trend_counts_legacy_keys_from_shared_chunks(make_store: Callable[..., Store]
                                                         ) -> None:
    store = make_store()
    nights = [_night(0), _night(1)]
    assert nights[1].findings[1].rule_id == "SOAR-MIG-001"
    del nights[1].findings[1]  # key 1 migrated: its finding is resolved
    for result in nights:
        store.record_run(result)
    assert [p.legacy_keys for p in store.runs()] == [KEYS - 1, KEYS]


@pytest.mark.parametrize("manifest", [
    codec.DOCUMENT + b"\x00\x11",
    codec.DOCUMENT + zlib.compress(b'{"run":{},"chunks":[],"lifecycle":[],"first_seen":[],'
                                   b'"numbers":""}'),
])
def test_a_damaged_manifest_is_one_store_error(make_store: Callable[..., Store], engine: Engine,
                                               manifest: bytes) -> None:
    store = make_store()
    result = _night(0)
    store.record_run(result)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE runs SET document = :d WHERE id = :i"),
                     {"d": manifest, "i": result.run_id})
    with pytest.raises(StoreError, match=rf"^state: loading run {result.run_id} failed on .*: a "
                                         r"stored value cannot be read \(.*\); the store may be "
                                         "damaged$"):
        store.load_run(result.run_id)
    assert store.runs()[0].legacy_keys is None


@pytest.mark.parametrize("message", [
    "created 12 days ago", "1 day left", "-3 days", "key12 days", "12days", "days 12", "",
    "null \u0000 byte, 4 days", "7 day", "8 days_x", "99 daysafter", "a 5 days. 6 day, 7 days",
])
def test_day_counts_come_back_exactly(message: str) -> None:
    result = run(T0, {"acme": [finding("SOAR-AGE-001", 1)]})
    f = result.findings[0]
    f.message = message
    f.evidence = {"age_days": 12, "days_left": -4, "day": "x", "max_key_age_days": 90,
                  "note": message, "nested": {"in_days": [3], "days": 0}}
    f.first_seen = T0
    writer = codec.DocumentWriter(result)
    line = writer.add_finding(f)
    manifest, chunks = codec.blobs.unpack(writer.finish())
    data = {d: zlib.decompress(c) for d, c in chunks}

    def load(digests: list[str], where: str) -> Iterator[bytes]:
        return (data[d] for d in digests)

    back = codec.read_result(manifest, load, {})
    assert jsonio.dumps(back.findings[0].to_dict()) == line
    assert jsonio.dumps(back.to_dict()) == jsonio.dumps(result.to_dict())
