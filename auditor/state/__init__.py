"""The state stage: run history, finding lifecycle and change facts, in SQLite or PostgreSQL.

store = open_store("sqlite:///reports/state.db")        # or postgresql://user@host/db
with store.audit_lock():
    history = store.tenant_history("acme")             # for the change rules
    store.record_run(result)                           # lifecycle in place + stored

``audit_lock()`` excludes every other audit of the store; ``audit_lock(scope="shard0of4")`` only
the other audits of that shard and unsharded audits (shards of one store run in parallel).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from auditor.clock import SYSTEM_CLOCK, Clock
from auditor.state.connect import parse_url, safe_url
from auditor.state.errors import LockBusy, RunNotFound, StoreError
from auditor.state.outbox import OutboxItem
from auditor.state.queries import RunSummary, TenantSummary
from auditor.state.store import Store

if TYPE_CHECKING:
    from auditor.config import Config

__all__ = [
    "LockBusy",
    "OutboxItem",
    "RunNotFound",
    "RunSummary",
    "Store",
    "StoreError",
    "TenantSummary",
    "open_store",
    "safe_url",
    "state_url",
]


def open_store(url: str, *, retention_days: int = 400, clock: Clock = SYSTEM_CLOCK) -> Store:
    """Open (creating or upgrading the schema) the store at ``url``; StoreError when it cannot.
    ``clock`` dates what the store writes of its own (outbox, slot claims, upgrades)."""
    return Store(parse_url(url), retention_days=retention_days, clock=clock)


def state_url(config: Config) -> str:
    """The configured state URL, a relative SQLite path taken from the configuration's folder
    (like every other path in the file)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from auditor.config import resolve_path

    url = config.state
    if not url.startswith("sqlite"):
        return url
    parsed = make_url(url)
    if not parsed.database or Path(parsed.database).is_absolute():
        return url
    return parsed.set(database=str(resolve_path(config, parsed.database))).render_as_string(
        hide_password=False
    )
