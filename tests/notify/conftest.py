from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.notify import OutboxStore, RetryPolicy

from .fakeslack import FakeSlack
from .helpers import Sleeps
from .memstore import MemoryOutbox


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def retry(sleeps: Sleeps) -> RetryPolicy:
    return RetryPolicy(backoff_seconds=0.01, sleep=sleeps)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OutboxStore]:
    """The outbox: the in-memory Protocol implementation, and the real SQLite state store."""
    if request.param == "memory":
        yield MemoryOutbox()
        return
    from auditor.state import open_store

    with open_store(f"sqlite:///{tmp_path / 'state.db'}") as real:
        yield real


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[OutboxStore]:
    """The real state store on PostgreSQL (SOAR_AUDITOR_TEST_POSTGRES), in a fresh schema.
    Skipped when the variable is unset, except under CI=true where that is a failure."""
    from auditor.state import open_store

    with open_store(pg_url) as real:
        yield real
