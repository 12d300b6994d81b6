"""The heartbeat document: where the scheduler writes it, how it is written and read, and how its
times are read back.

The daemon writes its :class:`~auditor.schedule.record.Health` snapshot atomically as JSON to
this file every few seconds and after every change; ``soar-auditor healthcheck`` reads only this
file (no secret, no connection to the store). /healthz, /readyz and /metrics serve the same
document from memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from auditor.config import Config, resolve_path

HEARTBEAT_ENV = "SOAR_AUDITOR_HEARTBEAT_FILE"


def heartbeat_path(
    config: Config | None, explicit: str | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """Where the heartbeat lives: the option, else schedule.health.heartbeat_file, else
    $SOAR_AUDITOR_HEARTBEAT_FILE, else ``<reports.dir>/heartbeat.json``."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if config is not None and config.schedule.health.heartbeat_file:
        return resolve_path(config, config.schedule.health.heartbeat_file)
    if env.get(HEARTBEAT_ENV):
        return Path(env[HEARTBEAT_ENV])
    if config is None:
        raise ValueError(f"give --heartbeat-file, --config, or set {HEARTBEAT_ENV}")
    return resolve_path(config, config.reports.dir) / "heartbeat.json"


def parse_time(value: Any) -> datetime | None:
    """A time field of the document (``...Z`` or with an offset; naive means UTC), or None."""
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def write_heartbeat(path: Path, data: Mapping[str, Any]) -> None:
    """Atomically replace the heartbeat file (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_heartbeat(path: Path) -> dict[str, Any]:
    """The heartbeat as a dict; ValueError with a one-line reason when it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"no heartbeat at {path} (is `soar-auditor schedule` running?)"
        ) from None
    except OSError as exc:
        raise ValueError(f"cannot read the heartbeat {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"the heartbeat {path} is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ValueError(f"the heartbeat {path} is not a JSON object")
    return data


__all__ = ["HEARTBEAT_ENV", "heartbeat_path", "parse_time", "read_heartbeat", "write_heartbeat"]
