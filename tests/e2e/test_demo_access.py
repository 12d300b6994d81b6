"""The demo shows what the product is for from now on: the legacy keys' deadline and their
replacements, and the access that replaces API keys (Group Mapping, IAM)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.e2e.helpers import cli


def test_the_demo_shows_every_new_rule_family_and_the_migration_plan(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = cli("demo", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    (tenant,) = doc["tenants"]
    assert tenant["status"] == "ok"
    rules = {f["rule_id"] for f in doc["findings"] if f["status"] in ("fail", "unknown")}
    for family in ("SOAR-MIG-001", "SOAR-MAP-001", "SOAR-MAP-002", "SOAR-MAP-003",
                   "SOAR-MAP-004", "SOAR-IAM-001", "SOAR-CHG-003", "SOAR-CHG-004"):
        assert family in rules, family
    by_type = {f["resource"]["type"] for f in doc["findings"]}
    assert {"api_key", "idp_mapping", "iam_member"} <= by_type
    iam = [f for f in doc["findings"] if f["rule_id"] == "SOAR-IAM-001"]
    assert {f["status"] for f in iam} == {"fail", "unknown"}  # the conditional binding
    # the plan: one row per legacy (non-system) key, a replacement for each
    with (out / "migration.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    mig = [f for f in doc["findings"] if f["rule_id"] == "SOAR-MIG-001"
           and f["status"] != "resolved"]
    assert len(rows) == len(mig) > 10
    plan = (out / "migration.md").read_text(encoding="utf-8")
    assert "2027-03-31" in plan and "Group Mapping" in plan
    inventory = json.loads((out / "inventory.json").read_text(encoding="utf-8"))["acme-prod"]
    assert inventory["surfaces"] == ["legacy", "chronicle", "iam"]
    assert inventory["dialects"] == {"GetSocRoles": "post"}
