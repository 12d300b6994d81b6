"""The heartbeat document (auditor.schedule.heartbeat): where it lives, unreadable files."""

from __future__ import annotations

from pathlib import Path

import pytest
from health_builders import NOW

from auditor.config import parse_config
from auditor.schedule.checks import check
from auditor.schedule.heartbeat import heartbeat_path, read_heartbeat


def test_malformed_heartbeat_is_unhealthy(tmp_path: Path) -> None:
    assert check({"schedule": {"cron": "not a cron"}}, NOW)[0].startswith("the heartbeat is")
    bad = tmp_path / "hb.json"
    bad.write_text("{oops", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_heartbeat(bad)
    with pytest.raises(ValueError, match="no heartbeat at"):
        read_heartbeat(tmp_path / "missing.json")


def test_heartbeat_path_precedence(tmp_path: Path) -> None:
    base = {"tenants": [{"name": "t", "url": "http://127.0.0.1:1", "api_key": "k" * 8}],
            "reports": {"dir": str(tmp_path / "reports")}}
    plain = parse_config(base, env={})
    env = {"SOAR_AUDITOR_HEARTBEAT_FILE": "/tmp/env.json"}
    assert heartbeat_path(plain, env={}) == tmp_path / "reports" / "heartbeat.json"
    assert heartbeat_path(plain, env=env) == Path("/tmp/env.json")
    assert heartbeat_path(None, "/x/explicit.json", env=env) == Path("/x/explicit.json")
    configured = parse_config({**base, "schedule": {"health": {"heartbeat_file": "/x/c.json"}}},
                              env={})
    assert heartbeat_path(configured, env=env) == Path("/x/c.json")
    with pytest.raises(ValueError, match="--heartbeat-file"):
        heartbeat_path(None, env={})
