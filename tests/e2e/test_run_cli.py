"""`soar-auditor run` end to end: a real subprocess against simulators over loopback HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.clock import SYSTEM_CLOCK, Clock
from tests.e2e.helpers import cli, tenant_entry, write_config


@pytest.fixture
def simulator_clock() -> Clock:
    """The CLI audits in a subprocess, on the system clock: so do the simulators it audits."""
    return SYSTEM_CLOCK


def _config(tmp_path: Path, tenants: list[dict[str, Any]], **extra: Any) -> Path:
    data: dict[str, Any] = {
        "tenants": tenants,
        "state": f"sqlite:///{tmp_path / 'state.db'}",
        "reports": {"dir": str(tmp_path / "reports"), "formats": ["html", "json", "csv"]},
    }
    data.update(extra)
    return write_config(tmp_path / "auditor.yaml", data)


def test_run_writes_every_output_and_points_latest(tmp_path: Path, start_simulator: Any) -> None:
    srv = start_simulator("demo")
    cfg = _config(tmp_path, [tenant_entry(srv, "acme-prod", "SOAR_ACME_KEY")])
    proc = cli("run", "--config", str(cfg), env={"SOAR_ACME_KEY": srv.app_key})
    assert proc.returncode == 0, proc.stderr
    latest = tmp_path / "reports" / "latest"
    assert latest.is_symlink()
    for name in ("findings.json", "report.html", "findings.csv", "inventory.json"):
        assert (latest / name).is_file(), name
    doc = json.loads((latest / "findings.json").read_text())
    assert doc["schema_version"] == 1
    assert doc["run"]["status"] == "complete"
    assert doc["tenants"][0] == {
        "name": "acme-prod", "status": "ok", "error": None, "auth": "appkey",
        "counts": {"api_keys": 19, "environments": 4, "permission_groups": 8, "soc_roles": 5},
        "surfaces": ["legacy"],
        # a legacy-only tenant: the rules of the Chronicle API and IAM do not apply
        "not_applicable": ["SOAR-CHG-003", "SOAR-CHG-004", "SOAR-IAM-001", "SOAR-MAP-001",
                           "SOAR-MAP-002", "SOAR-MAP-003", "SOAR-MAP-004"],
    }
    env001 = [f for f in doc["findings"] if f["rule_id"] == "SOAR-ENV-001"]
    assert any(f["status"] == "fail" and f["resource"]["id"] == 101 for f in env001)
    assert any(f["status"] == "unknown" and f["resource"]["id"] == 114 for f in env001)
    assert doc["run"]["id"] == latest.resolve().name


def test_fail_on_sets_exit_1_only_at_or_above_threshold(tmp_path: Path,
                                                        start_simulator: Any) -> None:
    srv = start_simulator("demo")
    cfg = _config(tmp_path, [tenant_entry(srv, "acme-prod", "K")])
    env = {"K": srv.app_key}
    assert cli("run", "--config", str(cfg), "--fail-on", "critical", env=env).returncode == 1
    # With the only critical rule disabled and muted nothing else critical remains.
    data = yaml.safe_load(cfg.read_text())
    data["rules"] = {"disabled": ["SOAR-PG-001"]}
    write_config(cfg, data)
    proc = cli("run", "--config", str(cfg), "--fail-on", "critical", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_one_failing_tenant_gives_exit_3_and_others_are_complete(
    tmp_path: Path, start_simulator: Any
) -> None:
    good = start_simulator("demo")
    bad = start_simulator("demo")
    bad.set_faults([{"endpoint": "GetApiKeys", "status": 503}])
    cfg = _config(tmp_path, [tenant_entry(good, "good", "K1"), tenant_entry(bad, "bad", "K2")])
    out = tmp_path / "out"
    proc = cli("run", "--config", str(cfg), "--out", str(out),
               env={"K1": good.app_key, "K2": bad.app_key})
    assert proc.returncode == 3, proc.stderr
    assert "tenant bad not audited: GetApiKeys" in proc.stderr
    doc = json.loads((out / "findings.json").read_text())
    assert doc["run"]["status"] == "incomplete"
    tenants = {t["name"]: t for t in doc["tenants"]}
    assert tenants["good"]["status"] == "ok"
    assert tenants["bad"]["status"] == "error"
    assert tenants["bad"]["error"].startswith("GetApiKeys: ")
    audit = [f for f in doc["findings"] if f["rule_id"] == "SOAR-AUDIT-001"]
    assert [(f["tenant"], f["resource"]) for f in audit] == [
        ("bad", {"type": "tenant", "id": None, "name": "bad"})
    ]
    # The good tenant is reported in full, the bad one has no key findings (never "clean").
    assert any(f["tenant"] == "good" and f["rule_id"] == "SOAR-ENV-001" for f in doc["findings"])
    assert not [f for f in doc["findings"]
                if f["tenant"] == "bad" and f["rule_id"] != "SOAR-AUDIT-001"]


def test_wrong_appkey_is_one_line_naming_tenant_and_401(tmp_path: Path,
                                                        start_simulator: Any) -> None:
    srv = start_simulator("demo")
    cfg = _config(tmp_path, [tenant_entry(srv, "acme-prod", "K")])
    proc = cli("run", "--config", str(cfg), "--log-format", "json",
               env={"K": "wrong-key-for-this-tenant"})
    assert proc.returncode == 3
    records = [json.loads(ln) for ln in (proc.stdout + proc.stderr).splitlines()]  # all JSON
    (line,) = [r for r in records if r.get("event") == "tenant_not_audited"]
    assert line["tenant"] == "acme-prod" and "401" in line["message"]
    assert "wrong-key-for-this-tenant" not in proc.stderr + proc.stdout


def test_retry_after_429_then_success_is_a_complete_audit(tmp_path: Path,
                                                           start_simulator: Any) -> None:
    srv = start_simulator("demo")
    srv.set_faults([{"endpoint": "GetApiKeys", "status": 429, "retry_after": 1, "times": 1},
                    {"endpoint": "GetEnvironments", "status": 503, "times": 2}])
    cfg = _config(tmp_path, [tenant_entry(srv, "acme-prod", "K")])
    out = tmp_path / "out"
    proc = cli("run", "--config", str(cfg), "--out", str(out), env={"K": srv.app_key})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "findings.json").read_text())
    assert doc["run"]["status"] == "complete"
    hits = [p for m, p in srv.request_log if "getapikeys" in p.lower()]
    assert len(hits) == 2  # the 429, then the retry


def test_json_log_format_prints_structured_lines_only(tmp_path: Path,
                                                      start_simulator: Any) -> None:
    srv = start_simulator("demo")
    cfg = _config(tmp_path, [tenant_entry(srv, "acme-prod", "K")])
    proc = cli("run", "--config", str(cfg), "--log-format", "json", env={"K": srv.app_key})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    assert records and all({"time", "level", "message"} <= r.keys() for r in records)
    assert any(r.get("event") == "audit_finished" for r in records)


def test_exceptions_mute_expire_and_report_unused(tmp_path: Path, start_simulator: Any) -> None:
    srv = start_simulator("demo")
    (tmp_path / "exceptions.yaml").write_text(yaml.safe_dump([
        {"rule": "SOAR-PG-001", "key": "break-glass-admin", "reason": "emergency access",
         "owner": "secops@acme.example", "expires": "2999-01-01"},
        {"rule": "SOAR-AGE-*", "key": "id:107", "reason": "vendor rotates",
         "owner": "it@acme.example", "expires": "2001-01-01"},
        {"rule": "SOAR-ENV-002", "tenant": "other-*", "reason": "n/a",
         "owner": "x@acme.example", "expires": "2999-01-01"},
    ]))
    cfg = _config(tmp_path, [tenant_entry(srv, "acme-prod", "K")], exceptions="exceptions.yaml")
    out = tmp_path / "out"
    proc = cli("run", "--config", str(cfg), "--out", str(out), "--fail-on", "critical",
               env={"K": srv.app_key})
    doc = json.loads((out / "findings.json").read_text())
    muted = [f for f in doc["findings"] if f["status"] == "muted"]
    assert [(f["rule_id"], f["resource"]["name"]) for f in muted] == [
        ("SOAR-PG-001", "break-glass-admin")
    ]
    assert muted[0]["exception"]["owner"] == "secops@acme.example"
    assert proc.returncode == 0  # the only critical finding is muted
    assert [e["rule"] for e in doc["exceptions"]["expired"]] == ["SOAR-AGE-*"]
    assert [e["rule"] for e in doc["exceptions"]["unused"]] == ["SOAR-ENV-002"]
    age = [f for f in doc["findings"] if f["rule_id"] == "SOAR-AGE-001"
           and f["resource"]["id"] == 107]
    assert age and age[0]["status"] == "fail"  # an expired exception mutes nothing


def test_malformed_exception_is_a_configuration_error(tmp_path: Path,
                                                      start_simulator: Any) -> None:
    srv = start_simulator("demo")
    (tmp_path / "exceptions.yaml").write_text(
        "- rule: SOAR-PG-001\n  reason: no owner here\n  expires: 2999-01-01\n"
    )
    cfg = _config(tmp_path, [tenant_entry(srv, "acme-prod", "K")], exceptions="exceptions.yaml")
    proc = cli("run", "--config", str(cfg), env={"K": srv.app_key})
    assert proc.returncode == 2
    assert "exceptions.yaml:1" in proc.stderr and "owner" in proc.stderr
    assert srv.request_log == []  # nothing was audited


def test_shards_split_tenants_into_distinct_runs(tmp_path: Path, start_simulator: Any) -> None:
    sims = [start_simulator("demo") for _ in range(3)]
    cfg = _config(tmp_path, [tenant_entry(s, f"t{i}", "K") for i, s in enumerate(sims)])
    seen: dict[str, str] = {}
    for index in range(2):
        out = tmp_path / f"shard{index}"
        proc = cli("run", "--config", str(cfg), "--shard", f"{index}/2", "--out", str(out),
                   env={"K": sims[0].app_key})
        assert proc.returncode == 0, proc.stderr
        doc = json.loads((out / "findings.json").read_text())
        assert doc["run"]["id"].endswith(f"-shard{index}of2")
        for tenant in doc["tenants"]:
            assert tenant["name"] not in seen
            seen[tenant["name"]] = doc["run"]["id"]
    assert sorted(seen) == ["t0", "t1", "t2"]
    # More shards than tenants: the empty shard has nothing to do, and says so.
    proc = cli("run", "--config", str(cfg), "--shard", "4/5", env={"K": sims[0].app_key})
    assert proc.returncode == 0
    assert "nothing to audit" in proc.stderr
