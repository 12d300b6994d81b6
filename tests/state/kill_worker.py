"""Run by test_kill.py in a child process: start recording a run, then stall inside the write
transaction (after the first bulk insert of findings) until the parent SIGKILLs it."""

from __future__ import annotations

import sys
import time
from typing import Any

import sqlalchemy as sa
from state_helpers import DAY, T0, finding, run

from auditor.state import open_store


def main(url: str) -> None:
    store = open_store(url)

    @sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
    def stall(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO FINDINGS"):
            print("IN_TRANSACTION", flush=True)
            time.sleep(120)

    result = run(
        T0 + DAY,
        {
            "acme": [finding("SOAR-PG-001", 1), finding("SOAR-ENV-003", 3)]
            + [finding("SOAR-NAME-001", k) for k in range(100, 3100)]
        },
    )
    with store.audit_lock():
        store.begin_run(result.run_id, result.started_at, result.tool_version)
        print("LOCKED", flush=True)
        store.record_run(result)
    print("NOT KILLED", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
