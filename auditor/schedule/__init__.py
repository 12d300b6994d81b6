"""The schedule stage: ``soar-auditor schedule`` (audits on a cron schedule), its health, and the
tenant shards of ``run --shard``. One concern per module:

- :mod:`~auditor.schedule.daemon`: the APScheduler daemon (:class:`Scheduler`): catch-up, slot
  claims, configuration reloads, clean stops;
- :mod:`~auditor.schedule.crontab`: 5-field crontab lines as APScheduler triggers, with cron's
  meaning, and the slots before and after a moment;
- :mod:`~auditor.schedule.record`: the daemon's health record (:class:`Health`);
- :mod:`~auditor.schedule.heartbeat`: the heartbeat document on disk (path, atomic write, read);
- :mod:`~auditor.schedule.checks`: healthy / ready, decided from that document alone;
- :mod:`~auditor.schedule.metrics`: the Prometheus metrics;
- :mod:`~auditor.schedule.http`: /healthz, /readyz and /metrics;
- :mod:`~auditor.schedule.shard`: which tenants one shard of an indexed Job audits.

Code of the auditor imports those modules directly. The names below are re-exported for other
callers, loaded on first use, so that importing one module (the pipeline's ``shard``, the
configuration check's ``crontab``) does not load the daemon.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names for type checkers; at run time __getattr__ below loads them
    from auditor.schedule.checks import DEFAULT_MAX_AUDIT_SECONDS as DEFAULT_MAX_AUDIT_SECONDS
    from auditor.schedule.checks import check as check
    from auditor.schedule.checks import readiness_problems as readiness_problems
    from auditor.schedule.crontab import CrontabTrigger as CrontabTrigger
    from auditor.schedule.crontab import check_fires as check_fires
    from auditor.schedule.crontab import crontab_fields as crontab_fields
    from auditor.schedule.crontab import interval_trigger as interval_trigger
    from auditor.schedule.crontab import next_fire_time as next_fire_time
    from auditor.schedule.crontab import previous_fire_time as previous_fire_time
    from auditor.schedule.daemon import Scheduler as Scheduler
    from auditor.schedule.heartbeat import HEARTBEAT_ENV as HEARTBEAT_ENV
    from auditor.schedule.heartbeat import heartbeat_path as heartbeat_path
    from auditor.schedule.heartbeat import read_heartbeat as read_heartbeat
    from auditor.schedule.heartbeat import write_heartbeat as write_heartbeat
    from auditor.schedule.http import HealthServer as HealthServer
    from auditor.schedule.metrics import Metrics as Metrics
    from auditor.schedule.record import Health as Health
    from auditor.schedule.shard import SHARD_COUNT_ENV as SHARD_COUNT_ENV
    from auditor.schedule.shard import parse_shard as parse_shard
    from auditor.schedule.shard import select_shard as select_shard
    from auditor.schedule.shard import shard_scope as shard_scope

_HOMES: dict[str, tuple[str, ...]] = {
    "checks": ("DEFAULT_MAX_AUDIT_SECONDS", "check", "readiness_problems"),
    "crontab": ("CrontabTrigger", "check_fires", "crontab_fields", "interval_trigger",
                "next_fire_time", "previous_fire_time"),
    "daemon": ("Scheduler",),
    "heartbeat": ("HEARTBEAT_ENV", "heartbeat_path", "read_heartbeat", "write_heartbeat"),
    "http": ("HealthServer",),
    "metrics": ("Metrics",),
    "record": ("Health",),
    "shard": ("SHARD_COUNT_ENV", "parse_shard", "select_shard", "shard_scope"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
