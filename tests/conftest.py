"""Shared fixtures: the SOAR simulator on real loopback HTTP, and tenant configurations for it.

Time: no test may depend on today's date (`.ci/run` runs the suite again under
``faketime -f +400d``). ``TEST_NOW`` (2026-11-26 02:00 UTC) is the one "now" of the suite.

- ``clock``: a fresh ``FixedClock`` at ``TEST_NOW`` (``clock.advance(timedelta(days=1))`` moves
  it). The simulators of a test date their keys by it, so a test that audits with
  ``now=clock.now()`` (or ``clock=clock``) sees exactly the ages the scenario states.
- ``simulator_clock``: the clock the simulators of a test run on: ``clock``. A module whose tests
  audit with the CLI in a subprocess (which reads the system clock) overrides it to return
  ``SYSTEM_CLOCK``, and asserts nothing that depends on the calendar.
- ``demo_scenario`` (session): the built-in demo Scenario
  (``auditor/simulator/scenarios/demo.yaml``).
- ``simulator``: a started SimulatorServer on the demo scenario (127.0.0.1, free port, on
  ``simulator_clock``), stopped after the test. ``simulator.url``, ``simulator.app_key``,
  ``simulator.set_phase("after")``, ``simulator.set_faults([...])``, ``simulator.request_log``.
- ``start_simulator(scenario_or_path_or_dict, **kw)``: a factory that starts more simulators
  (``kw`` goes to SimulatorServer: ``clock=`` (a Clock or a callable; default
  ``simulator_clock``), ``ssl_context=``...). A Scenario, a path to a YAML file, a builtin name
  ("demo") or a dict (validated with Scenario.from_dict) are accepted. All are stopped after the
  test.
- ``tenant_config(srv, name=None, **overrides)``: a validated ``auditor.config.TenantConfig`` for
  a running simulator (name defaults to the scenario's tenant; overrides e.g. ``api_key="wrong"``,
  ``timeout_seconds=0.5``, ``max_connections=2``).
- ``fast_retry``: a RetryPolicy with tiny backoffs, for tests that pass ``retry=`` explicitly.
- ``pg_url``: a fresh, empty schema on the test PostgreSQL server named by
  ``SOAR_AUDITOR_TEST_POSTGRES`` (`.ci/start-postgres.sh` starts one); the URL selects the schema
  with ``search_path``. Skipped when the variable is unset, a failure under ``CI=true``.

Autouse: ``_fast_soar_retries`` makes the client's default retry policy fast (backoff ~10 ms,
Retry-After capped at 1 s) for every test, so that fault scenarios never slow the suite down.

Under libfaketime (``faketime -f +400d``), ``faketime_child_env(env)`` gives a subprocess whose
threads wait with timeouts (the scheduler daemon: APScheduler) ``FAKETIME_DONT_FAKE_MONOTONIC=1``:
libfaketime 0.9.10 shifts ``CLOCK_MONOTONIC`` but not the deadline of ``sem_clockwait``, so a
0.5 s ``Event.wait`` would last 400 days. Never set it in this process's own environment:
libfaketime re-reads the environment every few seconds, and a monotonic clock that jumps back by
400 days makes ``time.sleep`` fail with EINVAL. (`.ci/run` sets it for the whole run.)
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from auditor.clock import Clock, FixedClock
from auditor.config import TenantConfig
from auditor.simulator.scenario import Scenario, builtin_scenario, load_scenario
from auditor.simulator.server import SimulatorServer
from auditor.soar import client as soar_client
from auditor.soar.client import RetryPolicy

TEST_NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def faketime_child_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a subprocess, with a real monotonic clock under libfaketime (see above)."""
    if "faketime" in env.get("LD_PRELOAD", ""):
        return {**env, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    return env


FAST_RETRY = RetryPolicy(total=4, read=1, backoff_factor=0.01, backoff_jitter=0.01,
                         backoff_max=0.05, retry_after_max=1)


@pytest.fixture(autouse=True)
def _fast_soar_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(soar_client, "DEFAULT_RETRY", FAST_RETRY)


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return FAST_RETRY


@pytest.fixture(scope="session")
def demo_scenario() -> Scenario:
    return builtin_scenario("demo")


def _as_scenario(value: Scenario | str | Path | dict[str, Any]) -> Scenario:
    if isinstance(value, Scenario):
        return value
    if isinstance(value, dict):
        return Scenario.from_dict(value)
    if isinstance(value, str) and not value.endswith((".yaml", ".yml")) and "/" not in value:
        return builtin_scenario(value)
    return load_scenario(value)


StartSimulator = Callable[..., SimulatorServer]


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(TEST_NOW)


@pytest.fixture
def simulator_clock(clock: FixedClock) -> Clock:
    return clock


@pytest.fixture
def start_simulator(simulator_clock: Clock) -> Iterator[StartSimulator]:
    started: list[SimulatorServer] = []

    def start(scenario: Scenario | str | Path | dict[str, Any] = "demo",
              **kw: Any) -> SimulatorServer:
        chosen = kw.pop("clock", None) or simulator_clock
        kw["clock"] = chosen.now if isinstance(chosen, Clock) else chosen
        server = SimulatorServer(_as_scenario(scenario), **kw)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def simulator(start_simulator: StartSimulator, demo_scenario: Scenario) -> SimulatorServer:
    return start_simulator(demo_scenario)


def make_tenant_config(srv: SimulatorServer, name: str | None = None,
                       **overrides: Any) -> TenantConfig:
    data: dict[str, Any] = {
        "name": name or srv.scenario.tenant,
        "url": srv.url,
        "api_key": SecretStr(srv.app_key),
        "timeout_seconds": 5.0,
        "max_connections": 4,
    }
    data.update(overrides)
    return TenantConfig.model_validate(data)


@pytest.fixture
def tenant_config() -> Callable[..., TenantConfig]:
    return make_tenant_config


PG_ENV = "SOAR_AUDITOR_TEST_POSTGRES"


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        message = f'{PG_ENV} is not set (run: eval "$(bash .ci/start-postgres.sh)")'
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " — PostgreSQL tests must run in CI")
        pytest.skip(message)
    driver = make_url(base)
    if driver.drivername in ("postgres", "postgresql"):
        driver = driver.set(drivername="postgresql+psycopg")
    schema = f"t_{uuid.uuid4().hex[:12]}"
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
