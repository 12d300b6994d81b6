"""What the outputs say about a rule: a first audit's SOAR-ENV-001 explains the snapshot (no
evidence of a miss is not a false positive)."""

from __future__ import annotations

from datetime import timedelta

from report_factory import NOW

from auditor.config import RuleParams
from auditor.engine.evaluate import evaluate_tenant
from auditor.engine.rules import builtin_rules
from auditor.soar.models import ApiKey, Environment, Inventory, PermissionGroup, SocRole


def _first_audit(envs: list[Environment]) -> str:
    key = ApiKey(id=7, name="ci-bot", is_system=False, group_ids=(2,), role_ids=(2,),
                 environments=("EMEA", "APAC"), created_at=NOW - timedelta(days=10))
    inv = Inventory("acme", NOW, tuple(envs), (PermissionGroup(2, "SOC", False),),
                    (SocRole(2, "Tier 1"),), (key,))
    found = [f for f in evaluate_tenant(inv, None, builtin_rules(), RuleParams(), NOW)
             if f.rule_id == "SOAR-ENV-001"]
    assert len(found) == 1 and found[0].status == "fail"
    return found[0].message


def test_a_snapshot_key_on_a_first_audit_says_what_the_snapshot_means() -> None:
    message = _first_audit([Environment("EMEA", 1), Environment("APAC", 2)])
    assert message == (
        "ci-bot is bound to a snapshot of the 2 environments that existed when it was created "
        "(it lists each of them, and none of its permission groups has All Environments): it "
        "will not reach any environment created after it, from the next one on. Created since "
        "and not covered yet: none.")


def test_environments_created_since_are_named() -> None:
    message = _first_audit([Environment("EMEA", 1), Environment("APAC", 2),
                            Environment("Lab", 3, created_at=NOW - timedelta(days=2))])
    assert message.endswith("Created since and not covered yet: Lab.")
