"""Fixtures of the state tests: a store URL on SQLite and on a real PostgreSQL server.

PostgreSQL comes from SOAR_AUDITOR_TEST_POSTGRES (a SQLAlchemy URL, e.g. what
`.ci/start-postgres.sh` prints). Each test gets its own schema, dropped afterwards. When the
variable is unset the PostgreSQL cases are skipped, except under CI=true where they fail.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))  # state_helpers

from auditor.state import Store, open_store

PG_ENV = "SOAR_AUDITOR_TEST_POSTGRES"


def pg_base_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        message = f'{PG_ENV} is not set (run: eval "$(bash .ci/start-postgres.sh)")'
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " — PostgreSQL tests must run in CI")
        pytest.skip(message)
    return url


def _driver_url(url: str) -> sa.URL:
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A fresh, empty schema on the test server; the URL selects it with search_path."""
    base = pg_base_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_driver_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state/state.db"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def make_store(store_url: str) -> Iterator[Callable[..., Store]]:
    """Open stores on the test URL; all are closed at the end of the test."""
    opened: list[Store] = []

    def make(**kwargs: int) -> Store:
        store = open_store(store_url, **kwargs)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    return make_store()
