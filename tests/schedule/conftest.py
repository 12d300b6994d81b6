"""Fixtures of the scheduler tests: daemons started as subprocesses (stopped after the test) and
a fresh PostgreSQL schema on SOAR_AUDITOR_TEST_POSTGRES."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent))  # sched_helpers

from sched_helpers import Daemon

PG_ENV = "SOAR_AUDITOR_TEST_POSTGRES"


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, *args: str, name: str = "daemon") -> Daemon:
        daemon = Daemon(tmp_path, config, *args, name=name)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.kill()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty schema on the test PostgreSQL server (skipped locally when unset; a
    failure under CI=true)."""
    base = os.environ.get(PG_ENV)
    if not base:
        message = f"{PG_ENV} is not set (run: eval \"$(bash .ci/start-postgres.sh)\")"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " — PostgreSQL tests must run in CI")
        pytest.skip(message)
    schema = f"sched_{uuid.uuid4().hex[:12]}"
    driver = make_url(base)
    if driver.drivername in ("postgres", "postgresql"):
        driver = driver.set(drivername="postgresql+psycopg")
    admin = sa.create_engine(driver, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
