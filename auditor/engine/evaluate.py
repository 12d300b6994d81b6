"""The evaluate stage: an inventory (and the tenant's history) -> findings, status fail / unknown.

Passing checks are not listed. Per tenant: one context (maps), then one pass over each resource
type (API keys, Group Mapping entries, IAM members) with the compiled conditions; a resource's
facts are computed at most once. A check of a surface the tenant was not read over is not
applicable: it is skipped, and the rule listed as not applicable when none of its checks is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from auditor.config import RuleParams
from auditor.engine.access import grants_by_member
from auditor.engine.checks import Check
from auditor.engine.context import TenantContext, build_context
from auditor.engine.facts import (
    FACTS,
    PERMISSION_GROUPS,
    ItemFacts,
    KeyFacts,
    jsonable,
    tenant_facts,
)
from auditor.engine.facts_iam import IamMemberFacts
from auditor.engine.facts_mapping import MappingFacts
from auditor.engine.findings import Finding, Resource
from auditor.engine.history import TenantHistory
from auditor.engine.rules import AUDIT_RULE_ID, Rule, builtin_rules, find_rule
from auditor.soar.models import ApiKey, Inventory

MIGRATED_NOTE = (
    "Instance migrated to Google Cloud: IAM permissions replace permission groups; this verdict "
    "reflects the legacy permission groups the API still reports, not IAM roles."
)


def _verdict(check: Check, facts: Mapping[str, Any], params: Mapping[str, Any]) -> bool | None:
    """True: fail; None: unknown; False: pass."""
    verdict = check.when.predicate(facts, params)
    if verdict is False and check.unknown_when is not None:
        if check.unknown_when.predicate(facts, params) is not False:
            return None
    return verdict


def _unknown_reasons(check: Check, facts: Mapping[str, Any]) -> dict[str, str]:
    used = set(check.when.facts)
    if check.unknown_when is not None:
        used |= check.unknown_when.facts
    specs = FACTS[check.resource]
    reasons = {
        name: specs[name].unknown_reason or "not known"
        for name in sorted(used)
        if facts[name] is None
    }
    return reasons or {"unknown_when": "the rule's unknown_when condition holds"}


def _finding(
    rule: Rule,
    check: Check,
    verdict: bool | None,
    tenant: str,
    resource: Resource,
    facts: Mapping[str, Any],
    params: Mapping[str, Any],
    compliance: dict[str, list[str]] | None = None,
    migrated: bool = False,
) -> Finding:
    evidence: dict[str, Any] = {}
    specs = FACTS[check.resource]
    for key, name in check.evidence:
        if name in specs:
            evidence[key] = (
                facts.evidence(name) if isinstance(facts, ItemFacts) else jsonable(facts[name])
            )
        else:
            evidence[key] = jsonable(params[name])
    if verdict is True:
        message = check.message.render(facts, params)
    else:
        reasons = _unknown_reasons(check, facts)
        evidence["unknown"] = reasons
        if check.unknown_message is not None:
            message = check.unknown_message.render(facts, params)
        else:
            message = (f"{resource.name}: could not decide \"{rule.title}\": "
                       + "; ".join(dict.fromkeys(reasons.values())))
    if migrated:
        evidence["auth"] = "google"
        evidence["note"] = MIGRATED_NOTE
    return Finding(
        rule_id=rule.id,
        title=rule.title,
        severity=check.severity_of(rule.severity, facts, params) if check.severity_when
        else rule.severity,
        status="fail" if verdict is True else "unknown",
        tenant=tenant,
        resource=resource,
        message=message,
        remediation=check.remediation.render(facts, params),
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


# -- the resources of a tenant -------------------------------------------------------------------
FactsOf = Callable[[TenantContext, Any], ItemFacts]
ResourceOf = Callable[[Any], Resource]


def _keys(inventory: Inventory, params: RuleParams) -> list[ApiKey]:
    return [k for k in inventory.api_keys if params.include_system_keys or not k.is_system]


def _items(inventory: Inventory, params: RuleParams) -> dict[str, list[Any]]:
    """The items of each per-resource type that the rules are evaluated on."""
    return {
        "api_key": _keys(inventory, params),
        "idp_mapping": list(inventory.mappings),
        "iam_member": list(grants_by_member(inventory.iam_bindings)),
    }


_KINDS: dict[str, tuple[FactsOf, ResourceOf]] = {
    "api_key": (KeyFacts, lambda k: Resource("api_key", k.id, k.name)),
    "idp_mapping": (MappingFacts,
                    lambda m: Resource("idp_mapping", m.name, m.display_name or m.name)),
    "iam_member": (IamMemberFacts, lambda member: Resource("iam_member", member, member)),
}


def applicable_checks(inventory: Inventory, rules: list[Rule]) -> list[tuple[Rule, Check]]:
    """Every check of ``rules`` that applies to the tenant (its surface was read)."""
    surfaces = inventory.surfaces
    return [(r, c) for r in rules for c in r.checks if c.applies_to(surfaces)]


def not_applicable(inventory: Inventory, rules: list[Rule]) -> list[str]:
    """Ids of the rules none of whose checks applies to the tenant: they read a surface that the
    tenant was not read over (e.g. Group Mapping rules on a legacy-only tenant)."""
    return [r.id for r in rules if not r.applies_to(inventory.surfaces)]


def resources_checked(
    inventory: Inventory, rules: list[Rule], params: RuleParams
) -> dict[str, int]:
    """Rule id -> how many resources of the tenant it is evaluated on (applicable checks only;
    rules not applicable to the tenant are absent)."""
    counts = {kind: len(items) for kind, items in _items(inventory, params).items()}
    counts["tenant"] = 1
    out: dict[str, int] = {}
    for rule, check in applicable_checks(inventory, rules):
        out[rule.id] = out.get(rule.id, 0) + counts[check.resource]
    return out


def evaluate_tenant(
    inventory: Inventory,
    history: TenantHistory | None,
    rules: list[Rule],
    params: RuleParams,
    now: datetime,
) -> list[Finding]:
    """Findings (status ``fail`` or ``unknown``) of one collected tenant. Checks of a surface the
    tenant was not read over are skipped (see :func:`not_applicable`)."""
    ctx = build_context(inventory, history, params, now)
    pdict = params.model_dump()
    tenant = inventory.tenant
    # One compliance mapping per rule, shared by that rule's findings of this tenant (read-only).
    compliance = {r.id: _compliance(r) for r in rules}
    google = inventory.auth == "google"
    checks = applicable_checks(inventory, rules)
    items = _items(inventory, params)
    findings: list[Finding] = []
    for kind, (facts_of, resource_of) in _KINDS.items():
        kind_checks = [(r, c) for r, c in checks if c.resource == kind]
        if not kind_checks:
            continue
        for item in items[kind]:
            facts = facts_of(ctx, item)
            resource: Resource | None = None
            for rule, check in kind_checks:
                verdict = check.when.predicate(facts, pdict)
                if verdict is False:
                    if (check.unknown_when is None
                            or check.unknown_when.predicate(facts, pdict) is False):
                        continue
                    verdict = None
                if resource is None:
                    resource = resource_of(item)
                findings.append(_finding(
                    rule, check, verdict, tenant, resource, facts, pdict, compliance[rule.id],
                    google and PERMISSION_GROUPS in check.depends_on))
    tenant_checks = [(r, c) for r, c in checks if c.resource == "tenant"]
    if tenant_checks:
        tfacts = tenant_facts(tenant, inventory, None)
        tres = Resource("tenant", None, tenant)
        for rule, check in tenant_checks:
            verdict = _verdict(check, tfacts, pdict)
            if verdict is not False:
                findings.append(_finding(rule, check, verdict, tenant, tres, tfacts, pdict,
                                         compliance[rule.id],
                                         google and PERMISSION_GROUPS in check.depends_on))
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
    return _finding(rule, rule.check, True, tenant, Resource("tenant", None, tenant), facts,
                    pdict)
