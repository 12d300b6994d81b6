"""How many resources each rule checked in each tenant, where that can be told exactly.

``RunResult.checks`` counts, per rule, the resources it was evaluated on over all tenants. A
tenant's share is recounted from its inventory with the rule's checks (catalog ``checks``: the
resource type and the surface each reads): API keys (with or without system keys, as
``include_system_keys`` chose; the run's total tells which), Group Mapping entries, IAM members,
and 1 for a rule about the tenant as a whole. The per-tenant counts of a rule are given only
when they add up to its ``RunResult.checks`` total; otherwise (no inventory, a catalog that does
not describe the rule) that rule has none and reports show the run's total instead.
"""

from __future__ import annotations

from typing import Any

from auditor.engine.access import grants_by_member
from auditor.engine.schema import DEFAULT_SURFACE
from auditor.result import RunResult, TenantResult
from auditor.soar.models import Inventory

Check = tuple[str, str | None]  # (resource type, surface or None)


def _checks(entry: dict[str, Any]) -> list[Check]:
    listed = entry.get("checks")
    if isinstance(listed, list) and listed:
        return [(str(c.get("resource")), c.get("surface")) for c in listed if isinstance(c, dict)]
    kinds = entry.get("resources") or [entry.get("resource")]
    return [(str(k), DEFAULT_SURFACE.get(str(k))) for k in kinds]


def _sizes(inv: Inventory, system_keys: bool) -> dict[str, int]:
    keys = sum(1 for k in inv.api_keys if system_keys or not k.is_system)
    return {"api_key": keys, "idp_mapping": len(inv.mappings),
            "iam_member": len(grants_by_member(inv.iam_bindings)), "tenant": 1}


def _tenant_count(tenant: TenantResult, inv: Inventory | None, rule_id: str,
                  checks: list[Check], system_keys: bool) -> int | None:
    """None: the rule was not evaluated on the tenant; raises LookupError when it cannot say."""
    if tenant.status == "error":
        # Only a rule whose own check is about the tenant runs on an unaudited tenant.
        return 1 if checks and checks[0][0] == "tenant" else None
    if rule_id in tenant.not_applicable:
        return None
    if inv is None:
        raise LookupError(tenant.name)
    sizes = _sizes(inv, system_keys)
    if any(kind not in sizes for kind, _ in checks):
        raise LookupError(rule_id)
    surfaces = set(inv.surfaces)
    # A check of a surface the tenant was not read over counts nothing there.
    return sum(sizes[kind] for kind, surface in checks if surface is None or surface in surfaces)


def per_tenant(result: RunResult, rules: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Rule id -> {tenant: resources checked there}, for the rules whose per-tenant counts add
    up exactly to ``result.checks``; a tenant the rule did not run on is absent."""
    out: dict[str, dict[str, int]] = {}
    for entry in rules:
        rule_id = str(entry.get("id", ""))
        total = result.checks.get(rule_id)
        if total is None:
            continue
        checks = _checks(entry)
        for system_keys in (False, True):
            try:
                counts = {t.name: n for t in result.tenants
                          if (n := _tenant_count(t, result.inventories.get(t.name), rule_id,
                                                 checks, system_keys)) is not None}
            except LookupError:
                break
            if sum(counts.values()) == total:
                out[rule_id] = counts
                break
    return out
