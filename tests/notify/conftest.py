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
def pg_store() -> Iterator[OutboxStore]:
    """The real state store on PostgreSQL (SOAR_AUDITOR_TEST_POSTGRES), in a fresh schema.
    Skipped when the variable is unset, except under CI=true where that is a failure."""
    import os
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from auditor.state import open_store

    base = os.environ.get("SOAR_AUDITOR_TEST_POSTGRES")
    if not base:
        message = "SOAR_AUDITOR_TEST_POSTGRES is not set (eval \"$(bash .ci/start-postgres.sh)\")"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " — PostgreSQL tests must run in CI")
        pytest.skip(message)
    url = make_url(base)
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    schema = f"notify_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    scoped = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        with open_store(scoped.render_as_string(hide_password=False)) as real:
            yield real
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
