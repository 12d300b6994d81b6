"""`history --config` and `report --config --run` only read the state store: they work when the
tenants' secrets are not set (the configuration is loaded with ``store_only``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.config import load_config
from auditor.state import open_store, state_url
from tests.e2e.helpers import cli

CONFIG = (
    "tenants:\n"
    "  - name: acme\n"
    "    url: ${ACME_URL}\n"
    "    api_key: ${ACME_KEY}\n"
    "slack:\n  webhook_url: ${SLACK_HOOK}\n"
    "state: sqlite:///state.db\n"
    "reports: {dir: reports, formats: [json]}\n"
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "auditor.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    # one stored run, recorded as the audit would (the store only needs the state URL)
    from tests.state.state_helpers import T0, finding, run

    with open_store(state_url(load_config(path, env={}, store_only=True))) as store:
        store.record_run(run(T0, {"acme": [finding("SOAR-PG-001", 1)]}))
    return path


def test_history_needs_no_tenant_secret(config: Path) -> None:
    proc = cli("history", "--config", str(config), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert [r["status"] for r in json.loads(proc.stdout)] == ["complete"]


def test_report_needs_no_tenant_secret(config: Path, tmp_path: Path) -> None:
    proc = cli("report", "--config", str(config), "--run", "latest", "--out",
               str(tmp_path / "again"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "again" / "findings.json").is_file()


def test_run_still_needs_them(config: Path) -> None:
    proc = cli("run", "--config", str(config))
    assert proc.returncode == 2
    assert "tenants[0].url: environment variable ACME_URL is not set" in proc.stderr
