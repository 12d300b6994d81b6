"""Prowler-style filters through the real CLI: --severity, --status, --rule and --exclude-rule
narrow what `run` and `report --run` report (outputs and terminal), never the verdicts, the
state store or --fail-on; --tenant audits a subset; `rules list --framework`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.clock import SYSTEM_CLOCK, Clock
from tests.e2e.helpers import cli, tenant_entry, write_config


@pytest.fixture
def simulator_clock() -> Clock:
    """The CLI audits in a subprocess, on the system clock: so do the simulators it audits."""
    return SYSTEM_CLOCK


def _setup(tmp_path: Path, start_simulator: Any) -> tuple[Path, dict[str, str]]:
    a, b = start_simulator("demo"), start_simulator("demo")
    cfg = write_config(tmp_path / "auditor.yaml", {
        "tenants": [tenant_entry(a, "acme-prod", "K1"), tenant_entry(b, "acme-dev", "K2"),
                    tenant_entry(b, "globex", "K2")],
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        "reports": {"dir": str(tmp_path / "reports"), "formats": ["json", "csv"]},
    })
    return cfg, {"K1": a.app_key, "K2": b.app_key}


def _doc(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    return data


def test_filters_narrow_the_outputs_not_the_verdicts(tmp_path: Path,
                                                     start_simulator: Any) -> None:
    cfg, env = _setup(tmp_path, start_simulator)
    full = tmp_path / "full"
    assert cli("run", "--config", str(cfg), "--out", str(full), env=env).returncode == 0
    everything = _doc(full)["findings"]
    assert {f["severity"] for f in everything} >= {"critical", "high", "medium", "low"}

    out = tmp_path / "high"
    proc = cli("run", "--config", str(cfg), "--out", str(out), "--severity", "high",
               "--exclude-rule", "SOAR-CHG-*", "--fail-on", "medium", env=env)
    # --fail-on judges every finding: the medium ones count although they are not shown.
    assert proc.returncode == 1, proc.stderr
    doc = _doc(out)
    assert doc["findings"] and {f["severity"] for f in doc["findings"]} <= {"critical", "high"}
    assert not [f for f in doc["findings"] if f["rule_id"].startswith("SOAR-CHG-")]
    assert doc["summary"]["by_severity"]["medium"] == 0
    (note,) = [n for n in doc["notes"] if n.startswith("filtered output")]
    assert "severity critical, high; excluding rule SOAR-CHG-*" in note
    assert "not shown" in note and "--fail-on" in note
    assert "note: filtered output (severity critical, high" in proc.stdout  # the terminal too
    assert "SOAR-AGE-001" not in (out / "findings.csv").read_text(encoding="utf-8")
    # Rules the filter left out are not counted as passing controls either.
    assert not [r for r in doc["checks"] if r.startswith("SOAR-CHG-")]

    # The store recorded every finding: re-rendering the run unfiltered gives them all back.
    run_id = doc["run"]["id"]
    again = tmp_path / "again"
    proc = cli("report", "--config", str(cfg), "--run", run_id, "--out", str(again),
               "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert len(_doc(again)["findings"]) > len(doc["findings"])

    # report --run takes the same filters: a list of severities is exactly those.
    only = tmp_path / "only"
    proc = cli("report", "--config", str(cfg), "--run", run_id, "--out", str(only),
               "--severity", "critical,low", "--status", "fail", "--rule", "SOAR-*-001")
    assert proc.returncode == 0, proc.stderr
    shown = _doc(only)["findings"]
    assert shown and {f["severity"] for f in shown} <= {"critical", "low"}
    assert {f["status"] for f in shown} == {"fail"}
    assert all(f["rule_id"].endswith("-001") for f in shown)

    unknown = tmp_path / "unknown"
    assert cli("run", "--config", str(cfg), "--out", str(unknown), "--status", "unknown",
               env=env).returncode == 0
    assert {f["status"] for f in _doc(unknown)["findings"]} == {"unknown"}


def test_tenant_globs_audit_a_subset(tmp_path: Path, start_simulator: Any) -> None:
    cfg, env = _setup(tmp_path, start_simulator)
    out = tmp_path / "acme"
    proc = cli("run", "--config", str(cfg), "--out", str(out), "--tenant", "acme-*", env=env)
    assert proc.returncode == 0, proc.stderr
    assert [t["name"] for t in _doc(out)["tenants"]] == ["acme-prod", "acme-dev"]
    two = tmp_path / "two"
    assert cli("run", "--config", str(cfg), "--out", str(two), "--tenant", "globex",
               "--tenant", "acme-prod", env=env).returncode == 0
    assert [t["name"] for t in _doc(two)["tenants"]] == ["acme-prod", "globex"]
    bad = cli("run", "--config", str(cfg), "--tenant", "initech*", env=env)
    assert bad.returncode == 2
    assert "no tenant matches 'initech*' (tenants: acme-prod, acme-dev, globex)" in bad.stderr
    assert not (tmp_path / "reports").exists()  # nothing was audited


def test_severity_and_status_reject_unknown_values(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "auditor.yaml", {"tenants": []})
    for args, word in ((["--severity", "urgent"], "urgent is not a severity"),
                       (["--status", "pass"], "pass is not a finding status")):
        proc = cli("run", "--config", str(cfg), *args)
        assert proc.returncode == 2 and word in proc.stderr, proc.stderr


def test_help_says_filters_do_not_change_verdicts() -> None:
    text = " ".join(cli("run", "--help").stdout.split())
    for option in ("--severity", "--status", "--rule", "--exclude-rule", "--tenant"):
        assert option in text
    assert "the verdicts, the state store, --fail-on and Slack alerts consider every finding" \
        in text
    assert "the stored run is not changed" in " ".join(cli("report", "--help").stdout.split())


def test_rules_list_by_framework() -> None:
    proc = cli("rules", "list", "--framework", "iso", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rules = json.loads(proc.stdout)
    assert rules and all("iso27001-2022" in r["compliance"] for r in rules)
    table = cli("rules", "list", "--framework", "soc2").stdout
    assert "controls" in table and "CC6" in table
    bad = cli("rules", "list", "--framework", "pci")
    assert bad.returncode == 2 and "'pci' is not a framework of the rules" in bad.stderr
