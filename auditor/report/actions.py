"""The top actions of the report's first screen: what to fix first, one action per rule.

An action groups the failing findings of one rule (its remediation is the same for each of
them, only the resource differs): how many resources it fixes, in how many tenants, the worst
severity among them, the rule's remediation as the catalog writes it (``{name}`` and other
placeholders shown as ``‹name›``), and the rule's risk. Ordered by severity, then by the number
of resources fixed; a tenant that was not audited (SOAR-AUDIT-001) is an action too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from auditor.engine.findings import SEVERITY_RANK, Finding
from auditor.report.base import RuleDoc
from auditor.result import RunResult

TOP = 5
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
NOUNS = {"api_key": ("API key", "API keys"), "tenant": ("tenant", "tenants"),
         "idp_mapping": ("Group Mapping entry", "Group Mapping entries"),
         "iam_member": ("IAM member", "IAM members")}


@dataclass(frozen=True, slots=True)
class Action:
    rule_id: str
    title: str
    severity: str
    resources: int  # distinct resources that fail the rule (what the action fixes)
    tenants: int
    noun: str  # "API keys", "tenant", ...
    remediation: str
    risk: str
    new: int  # of them, new in this audit


def _generic(template: str) -> str:
    return _PLACEHOLDER.sub(lambda m: f"‹{m.group(1)}›", template).strip()


def _noun(findings: list[Finding], count: int) -> str:
    kinds = {f.resource.type for f in findings}
    if len(kinds) != 1:
        return "resource" if count == 1 else "resources"
    one, many = NOUNS.get(kinds.pop(), ("resource", "resources"))
    return one if count == 1 else many


def top_actions(result: RunResult, rules: list[dict[str, Any]], docs: dict[str, RuleDoc],
                limit: int = TOP) -> tuple[list[Action], int]:
    """The first ``limit`` actions, and how many there are in all."""
    by_rule: dict[str, list[Finding]] = {}
    for f in result.findings:
        if f.status == "fail":
            by_rule.setdefault(f.rule_id, []).append(f)
    catalog = {str(r.get("id", "")): r for r in rules}
    actions = []
    for rule_id, found in by_rule.items():
        entry = catalog.get(rule_id, {})
        resources = {(f.tenant, f.resource.type, str(f.resource.id), f.resource.name)
                     for f in found}
        worst = max(found, key=lambda f: SEVERITY_RANK.get(f.severity, 0)).severity
        template = str(entry.get("remediation") or "")
        remediation = _generic(template) if template else (
            found[0].remediation if len(found) == 1 else "")
        actions.append(Action(
            rule_id, found[0].title, worst, len(resources), len({f.tenant for f in found}),
            _noun(found, len(resources)), remediation,
            docs.get(rule_id, RuleDoc()).risk,
            sum(1 for f in found if f.lifecycle in ("new", "reopened"))))
    actions.sort(key=lambda a: (-SEVERITY_RANK.get(a.severity, 0), -a.resources, a.rule_id))
    return actions[:limit], len(actions)
