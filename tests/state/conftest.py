"""Fixtures of the state tests: a store URL on SQLite and on a real PostgreSQL server.

PostgreSQL comes from SOAR_AUDITOR_TEST_POSTGRES (a SQLAlchemy URL, e.g. what
`.ci/start-postgres.sh` prints). Each test gets its own schema, dropped afterwards. When the
variable is unset the PostgreSQL cases are skipped, except under CI=true where they fail.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # state_helpers

from auditor.state import Store, open_store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state/state.db"
    url: str = request.getfixturevalue("pg_url")
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
