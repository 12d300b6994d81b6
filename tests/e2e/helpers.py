"""Running the real `soar-auditor` command in a subprocess, as a user (or cron) would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 120, python: list[str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    """``python``: the command before ``args`` (default ``python -m auditor``)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SOAR_", "SLACK_"))}
    full_env.update(env or {})
    return subprocess.run(
        [*(python or [sys.executable, "-m", "auditor"]), *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout, check=False,
    )


def write_config(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def tenant_entry(srv: Any, name: str, key_var: str) -> dict[str, Any]:
    return {"name": name, "url": srv.url, "api_key": "${" + key_var + "}", "timeout_seconds": 5}
