"""Fixtures of the scheduler tests: daemons started as subprocesses (stopped after the test) and
a fresh PostgreSQL schema on SOAR_AUDITOR_TEST_POSTGRES."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # sched_helpers

from sched_helpers import Daemon


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


