"""The evaluate stage: an inventory (and the tenant's history) -> findings, status fail / unknown.

Passing checks are not listed. Per tenant: one context (maps), then one pass over the keys with
the compiled conditions; a key's facts are computed at most once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from auditor.config import RuleParams
from auditor.engine.context import build_context
from auditor.engine.facts import FACTS, PERMISSION_GROUPS, KeyFacts, jsonable, tenant_facts
from auditor.engine.findings import Finding, Resource
from auditor.engine.history import TenantHistory
from auditor.engine.rules import AUDIT_RULE_ID, Rule, builtin_rules, find_rule
from auditor.soar.models import Inventory

MIGRATED_NOTE = (
    "Instance migrated to Google Cloud: IAM permissions replace permission groups; this verdict "
    "reflects the legacy permission groups the API still reports, not IAM roles."
)


def _verdict(rule: Rule, facts: Mapping[str, Any], params: Mapping[str, Any]) -> bool | None:
    """True: fail; None: unknown; False: pass."""
    verdict = rule.when.predicate(facts, params)
    if verdict is False and rule.unknown_when is not None:
        if rule.unknown_when.predicate(facts, params) is not False:
            return None
    return verdict


def _unknown_reasons(rule: Rule, facts: Mapping[str, Any]) -> dict[str, str]:
    used = set(rule.when.facts)
    if rule.unknown_when is not None:
        used |= rule.unknown_when.facts
    specs = FACTS[rule.resource]
    reasons = {
        name: specs[name].unknown_reason or "not known"
        for name in sorted(used)
        if facts[name] is None
    }
    return reasons or {"unknown_when": "the rule's unknown_when condition holds"}


def _finding(
    rule: Rule,
    verdict: bool | None,
    tenant: str,
    resource: Resource,
    facts: Mapping[str, Any],
    params: Mapping[str, Any],
    compliance: dict[str, list[str]] | None = None,
    migrated: bool = False,
) -> Finding:
    evidence: dict[str, Any] = {}
    for name in rule.evidence:
        if name in FACTS[rule.resource]:
            evidence[name] = (
                facts.evidence(name) if isinstance(facts, KeyFacts) else jsonable(facts[name])
            )
        else:
            evidence[name] = jsonable(params[name])
    if verdict is True:
        message = rule.message.render(facts, params)
    else:
        reasons = _unknown_reasons(rule, facts)
        evidence["unknown"] = reasons
        if rule.unknown_message is not None:
            message = rule.unknown_message.render(facts, params)
        else:
            message = (f"{resource.name}: could not decide \"{rule.title}\": "
                       + "; ".join(dict.fromkeys(reasons.values())))
    if migrated:
        evidence["auth"] = "google"
        evidence["note"] = MIGRATED_NOTE
    return Finding(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.severity,
        status="fail" if verdict is True else "unknown",
        tenant=tenant,
        resource=resource,
        message=message,
        remediation=rule.remediation.render(facts, params),
        evidence=evidence,
        compliance=_compliance(rule) if compliance is None else compliance,
    )


def _compliance(rule: Rule) -> dict[str, list[str]]:
    return {k: list(v) for k, v in rule.compliance.items()}


def legacy_group_rules(inventory: Inventory, rules: list[Rule]) -> frozenset[str]:
    """Ids of the rules whose verdict rests on permission groups, when the tenant is an instance
    migrated to Google Cloud (``auth: google``): there IAM replaces the groups the API still
    lists, so their findings carry ``evidence.auth`` and ``evidence.note`` saying so."""
    if inventory.auth != "google":
        return frozenset()
    return frozenset(r.id for r in rules if PERMISSION_GROUPS in r.depends_on)


def evaluate_tenant(
    inventory: Inventory,
    history: TenantHistory | None,
    rules: list[Rule],
    params: RuleParams,
    now: datetime,
) -> list[Finding]:
    """Findings (status ``fail`` or ``unknown``) of one collected tenant."""
    ctx = build_context(inventory, history, params, now)
    pdict = params.model_dump()
    key_rules = [r for r in rules if r.resource == "api_key"]
    tenant_rules = [r for r in rules if r.resource == "tenant"]
    tenant = inventory.tenant
    # One compliance mapping per rule, shared by that rule's findings of this tenant (read-only).
    compliance = {r.id: _compliance(r) for r in rules}
    migrated = legacy_group_rules(inventory, rules)
    findings: list[Finding] = []
    for key in inventory.api_keys:
        if key.is_system and not params.include_system_keys:
            continue
        facts = KeyFacts(ctx, key)
        resource: Resource | None = None
        for rule in key_rules:
            verdict = rule.when.predicate(facts, pdict)
            if verdict is False:
                if rule.unknown_when is None or rule.unknown_when.predicate(facts, pdict) is False:
                    continue
                verdict = None
            if resource is None:
                resource = Resource("api_key", key.id, key.name)
            findings.append(_finding(rule, verdict, tenant, resource, facts, pdict,
                                     compliance[rule.id], rule.id in migrated))
    if tenant_rules:
        tfacts = tenant_facts(tenant, inventory, None)
        resource = Resource("tenant", None, tenant)
        for rule in tenant_rules:
            verdict = _verdict(rule, tfacts, pdict)
            if verdict is not False:
                findings.append(_finding(rule, verdict, tenant, resource, tfacts, pdict,
                                         compliance[rule.id], rule.id in migrated))
    return findings


def tenant_not_audited(
    tenant: str, error: str, rules: list[Rule], params: RuleParams | None = None
) -> Finding:
    """The SOAR-AUDIT-001 finding of a tenant that could not be collected in full (taken from
    ``rules``, else from the built-in pack: it cannot be switched off)."""
    rule = find_rule(rules, AUDIT_RULE_ID) or find_rule(builtin_rules(), AUDIT_RULE_ID)
    if rule is None:  # pragma: no cover - the built-in pack always has it
        raise LookupError(f"rule {AUDIT_RULE_ID} is missing from the built-in pack")
    pdict = (params or RuleParams()).model_dump()
    facts = tenant_facts(tenant, None, error)
    return _finding(rule, True, tenant, Resource("tenant", None, tenant), facts, pdict)
