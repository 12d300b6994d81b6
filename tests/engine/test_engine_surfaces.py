"""Rules of a surface a tenant was not read over are not applicable there: no finding, no check
counted, and the tenant lists them (pipeline.evaluate, TenantResult.not_applicable)."""

from __future__ import annotations

from engine_factory import SA, binding, inventory, key, mapping, run

from auditor.config import Config, RuleParams
from auditor.engine.evaluate import not_applicable, resources_checked
from auditor.engine.findings import Finding
from auditor.engine.rules import builtin_rules
from auditor.pipeline import Prepared, evaluate
from auditor.soar.models import TenantCollection

KEY_RULES = {"SOAR-ENV-001", "SOAR-ENV-002", "SOAR-ENV-003", "SOAR-PG-001", "SOAR-PG-002",
             "SOAR-ROLE-001", "SOAR-ROLE-002", "SOAR-AGE-001", "SOAR-NAME-001",
             "SOAR-NAME-002", "SOAR-CHG-001", "SOAR-CHG-002", "SOAR-MIG-001"}
MAPPING_RULES = {"SOAR-MAP-001", "SOAR-MAP-002", "SOAR-MAP-003", "SOAR-MAP-004", "SOAR-CHG-003"}
IAM_RULES = {"SOAR-IAM-001"}
BOTH = {"SOAR-CHG-004"}  # Group Mapping entries and IAM members


def _rules_of(findings: list[Finding]) -> set[str]:
    return {f.rule_id for f in findings}


def test_every_rule_declares_its_surfaces() -> None:
    surfaces = {r.id: r.surfaces for r in builtin_rules()}
    assert {i for i, s in surfaces.items() if s == ("legacy",)} == KEY_RULES
    assert {i for i, s in surfaces.items() if s == ("chronicle",)} == MAPPING_RULES
    assert {i for i, s in surfaces.items() if s == ("iam",)} == IAM_RULES
    assert surfaces["SOAR-CHG-004"] == ("chronicle", "iam")
    assert surfaces["SOAR-AUDIT-001"] == ()  # about every tenant


def test_a_legacy_only_tenant() -> None:
    inv = inventory([key(1, groups=(1,))], mappings=[], surfaces=["legacy"])
    assert set(not_applicable(inv, builtin_rules())) == MAPPING_RULES | IAM_RULES | BOTH
    assert "SOAR-PG-001" in _rules_of(run(inv))


def test_a_chronicle_only_tenant_gets_no_key_or_iam_rule() -> None:
    # Keys in the inventory of a tenant not read over the legacy API: none of their rules runs.
    inv = inventory([key(1, groups=(1,))], mappings=[mapping("m", members=(SA,), roles=(1,))],
                    bindings=[binding("roles/owner", SA)], surfaces=["chronicle"])
    assert set(not_applicable(inv, builtin_rules())) == KEY_RULES | IAM_RULES
    assert _rules_of(run(inv)) == {"SOAR-MAP-002"}


def test_a_tenant_without_iam_gets_no_iam_finding() -> None:
    inv = inventory([], mappings=[mapping("m")], bindings=[binding("roles/owner", SA)],
                    surfaces=["legacy", "chronicle"])
    assert set(not_applicable(inv, builtin_rules())) == IAM_RULES
    assert not [f for f in run(inv) if f.resource.type == "iam_member"]
    counts = resources_checked(inv, builtin_rules(), RuleParams())
    assert counts["SOAR-CHG-004"] == 1  # the mapping only: the IAM part does not apply


def test_checks_count_resources_of_applicable_rules() -> None:
    inv = inventory([key(1), key(2), key(3, system=True)],
                    mappings=[mapping("a"), mapping("b")],
                    bindings=[binding("roles/owner", SA, "user:a@acme.com")])
    counts = resources_checked(inv, builtin_rules(), RuleParams())
    assert counts["SOAR-PG-001"] == 2 and counts["SOAR-MIG-001"] == 2  # system key skipped
    assert counts["SOAR-MAP-001"] == 2 and counts["SOAR-IAM-001"] == 2
    assert counts["SOAR-CHG-004"] == 2 + 2 and counts["SOAR-AUDIT-001"] == 1
    assert set(counts) == {r.id for r in builtin_rules()}


def test_pipeline_evaluate_lists_not_applicable_rules_and_counts_only_the_others() -> None:
    config = Config.model_validate({"tenants": [
        {"name": "legacy-t", "url": "https://legacy.example.com", "api_key": "x"}]})
    legacy = inventory([key(1), key(2)], tenant="legacy-t")
    chronicle = inventory([], tenant="chron-t", mappings=[mapping("m")], surfaces=["chronicle"])
    collections = [TenantCollection("legacy-t", legacy), TenantCollection("chron-t", chronicle),
                   TenantCollection("down-t", None, "HTTP 503")]
    tenants, findings, checks = evaluate(collections, Prepared(rules=builtin_rules()), config,
                                         None, legacy.collected_at)
    by_name = {t.name: t for t in tenants}
    assert set(by_name["legacy-t"].not_applicable) == MAPPING_RULES | IAM_RULES | BOTH
    assert set(by_name["chron-t"].not_applicable) == KEY_RULES | IAM_RULES
    assert by_name["down-t"].not_applicable == []
    assert by_name["legacy-t"].to_dict()["not_applicable"] == by_name["legacy-t"].not_applicable
    assert checks["SOAR-PG-001"] == 2  # the two keys of legacy-t; chron-t counts nothing
    assert checks["SOAR-MAP-001"] == 1  # chron-t's entry
    assert "SOAR-IAM-001" not in checks  # no tenant was read over IAM
    assert checks["SOAR-AUDIT-001"] == 3  # every tenant, collected or not
    assert {f.tenant for f in findings if f.rule_id == "SOAR-MIG-001"} == {"legacy-t"}
